"""Making, revoking and checking API tokens. No HTTP here.

A token is `skb_` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored, so
a copy of the database lets nobody call the API; a long random secret needs no slow hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.accounts.models import User
from webapp.api.models import ApiToken
from webapp.audit import record_event
from webapp.domain import DomainError
from webapp.extensions import utcnow

TOKEN_PREFIX = "skb_"
SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
MAX_NAME_LENGTH = 100
# How often a token's "last used" time is written: not on every call of a busy ERP.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiTokenError(DomainError):
    pass


@dataclass(frozen=True)
class NewApiToken:
    """A token just made: `secret` exists only here and in the page that shows it once."""

    token: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    session: Session, *, organization_id: int, name: str, actor: User
) -> NewApiToken:
    name = " ".join(name.split())
    if not name:
        raise ApiTokenError("Give the token a name that says who uses it, such as “ERP”.")
    if len(name) > MAX_NAME_LENGTH:
        raise ApiTokenError(f"Token names are at most {MAX_NAME_LENGTH} characters.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        organization_id=organization_id,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        secret_hash=hash_secret(secret),
        created_by_id=actor.id,
    )
    session.add(token)
    session.flush()
    record_event(
        session,
        actor=actor,
        organization_id=organization_id,
        action="api_token.created",
        target=f"api_token:{token.id}",
        name=token.name,
        prefix=token.prefix,
    )
    return NewApiToken(token, secret)


def revoke_api_token(session: Session, token: ApiToken, *, actor: User) -> ApiToken:
    """From now on the token is refused. Revoking twice changes nothing."""
    if token.revoked_at is not None:
        return token
    token.revoked_at = utcnow()
    token.revoked_by_id = actor.id
    record_event(
        session,
        actor=actor,
        organization_id=token.organization_id,
        action="api_token.revoked",
        target=f"api_token:{token.id}",
        name=token.name,
        prefix=token.prefix,
    )
    return token


def organization_tokens(session: Session, organization_id: int) -> list[ApiToken]:
    """Active tokens first, newest first within each group."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.organization_id == organization_id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        )
    )


def authenticate(session: Session, secret: str) -> ApiToken:
    """The active token with this secret, its last use noted; `ApiTokenError` for anything
    else, saying what to do."""
    token = None
    if secret.startswith(TOKEN_PREFIX) and secret.isascii():
        token = session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret)))
    if token is None:
        raise ApiTokenError(
            "That API token is not valid: check that it was copied whole, or make a new one on "
            "the API tokens page of the dashboard."
        )
    if token.revoked_at is not None:
        raise ApiTokenError(
            f"The API token {token.prefix}… was revoked on {token.revoked_at:%Y-%m-%d %H:%M} UTC. "
            "Make a new one on the API tokens page of the dashboard."
        )
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        token.last_used_at = now
    return token
