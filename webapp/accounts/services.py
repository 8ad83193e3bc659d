"""TikTok Shop accounts: the OAuth flow, tokens kept fresh, activation. No HTTP objects here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.accounts.models import (
    AccountStatus,
    MarketplaceAccount,
    PendingAuthorization,
    User,
)
from webapp.accounts.selector import account_problem
from webapp.adapters.base import (
    DEFAULT_POLICY,
    AdapterError,
    AuthenticationFailed,
    CallPolicy,
    RateLimiter,
)
from webapp.adapters.tiktok import TikTokShopClient, TokenGrant
from webapp.audit import record_event
from webapp.domain import DomainError
from webapp.extensions import utcnow


class AccountError(DomainError):
    """Something about an account a user must act on; the message says what."""


class AccountUnusable(AccountError):
    pass


@dataclass(frozen=True)
class TikTokApp:
    """The TikTok Shop app SKU Bridge is registered as, read from config."""

    app_key: str
    app_secret: str
    service_id: str
    api_base_url: str
    auth_base_url: str
    refresh_margin: int = 3600
    policy: CallPolicy = DEFAULT_POLICY

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TikTokApp:
        return cls(
            app_key=config["TIKTOK_APP_KEY"],
            app_secret=config["TIKTOK_APP_SECRET"],
            service_id=config["TIKTOK_SERVICE_ID"],
            api_base_url=config["TIKTOK_API_BASE_URL"],
            auth_base_url=config["TIKTOK_AUTH_BASE_URL"],
            refresh_margin=int(config["TOKEN_REFRESH_MARGIN"]),
            policy=CallPolicy.from_config(config),
        )

    def client(
        self,
        access_token: str | None = None,
        shop_cipher: str | None = None,
        *,
        limiter: RateLimiter | None = None,
        renew_token: Callable[[], str] | None = None,
    ) -> TikTokShopClient:
        return TikTokShopClient(
            app_key=self.app_key,
            app_secret=self.app_secret,
            api_base_url=self.api_base_url,
            auth_base_url=self.auth_base_url,
            access_token=access_token,
            shop_cipher=shop_cipher,
            policy=self.policy,
            limiter=limiter,
            renew_token=renew_token,
        )

    def authorization_url(self, state: str) -> str:
        return self.client().authorize_url(self.service_id, state)


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def complete_authorization(
    session: Session, app: TikTokApp, *, organization_id: int, user: User, auth_code: str
) -> PendingAuthorization:
    """Exchange the callback's code for tokens and list the shops they open."""
    client = app.client()
    try:
        grant = client.get_token(auth_code)
        shops = app.client(access_token=grant.access_token).get_authorized_shops()
    except AdapterError as error:
        raise AccountError(f"TikTok Shop did not accept the authorization: {error}") from error
    finally:
        client.close()
    if not shops:
        raise AccountError("This TikTok Shop seller has no shops that SKU Bridge may manage.")
    pending = PendingAuthorization(
        organization_id=organization_id,
        created_by_id=user.id,
        seller_name=grant.seller_name,
        shops=[
            {
                "id": s.id,
                "cipher": s.cipher,
                "code": s.code,
                "name": s.name,
                "region": s.region,
            }
            for s in shops
        ],
        **_token_columns(grant),
    )
    session.add(pending)
    session.flush()
    return pending


def _token_columns(grant: TokenGrant) -> dict[str, Any]:
    return {
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "access_token_expires_at": _at(grant.access_token_expires_at),
        "refresh_token_expires_at": _at(grant.refresh_token_expires_at),
    }


def connect_shops(
    session: Session, pending: PendingAuthorization, shop_ids: Sequence[str], *, user: User
) -> list[MarketplaceAccount]:
    """Create or renew an account for each chosen shop of a finished authorization."""
    chosen = [shop for shop in pending.shops if shop["id"] in set(shop_ids)]
    if not chosen:
        raise AccountError("Choose at least one shop to connect.")
    accounts = []
    for shop in chosen:
        account = session.scalar(
            select(MarketplaceAccount).where(
                MarketplaceAccount.organization_id == pending.organization_id,
                MarketplaceAccount.shop_id == shop["id"],
            )
        )
        if account is None:
            account = MarketplaceAccount(
                organization_id=pending.organization_id, shop_id=shop["id"]
            )
            session.add(account)
        account.shop_cipher = shop["cipher"]
        account.shop_code = shop.get("code", "")
        account.name = shop["name"]
        account.region = shop.get("region", "")
        account.seller_name = pending.seller_name
        account.access_token = pending.access_token
        account.refresh_token = pending.refresh_token
        account.access_token_expires_at = pending.access_token_expires_at
        account.refresh_token_expires_at = pending.refresh_token_expires_at
        account.status = AccountStatus.ACTIVE
        account.status_reason = ""
        session.flush()
        record_event(
            session,
            actor=user,
            organization_id=pending.organization_id,
            action="account.connected",
            target=f"account:{account.id}",
            shop=shop["name"],
        )
        accounts.append(account)
    session.delete(pending)
    return accounts


def mark_authorization_expired(account: MarketplaceAccount, reason: str) -> None:
    account.status = AccountStatus.AUTH_EXPIRED
    account.status_reason = reason


def ensure_fresh_token(
    session: Session,
    app: TikTokApp,
    account: MarketplaceAccount,
    within: timedelta | None = None,
    *,
    force: bool = False,
) -> None:
    """Refresh the access token when it expires within `within` (the configured margin), or
    now (`force`: TikTok Shop said it has expired).

    A refresh hands out a new refresh token, so both are stored and committed at once: losing
    the new pair would lock the account out. The commit takes with it whatever the session
    holds; the jobs that call TikTok Shop write nothing that running them again would not.
    """
    now = utcnow()
    margin = within or timedelta(seconds=app.refresh_margin)
    if not force and account.access_token_expires_at > now + margin:
        return
    if account.refresh_token_expires_at <= now:
        mark_authorization_expired(
            account,
            f"TikTok Shop authorization expired on {account.refresh_token_expires_at:%Y-%m-%d}. "
            "Reconnect to authorize SKU Bridge again.",
        )
        session.commit()
        raise AccountUnusable(account.status_reason)
    client = app.client()
    try:
        grant = client.refresh_token(account.refresh_token)
    except AuthenticationFailed as error:
        mark_authorization_expired(
            account, f"TikTok Shop refused to renew the authorization ({error}). Reconnect."
        )
        session.commit()
        raise AccountUnusable(account.status_reason) from error
    finally:
        client.close()
    for column, value in _token_columns(grant).items():
        setattr(account, column, value)
    session.commit()


def account_client(
    session: Session,
    app: TikTokApp,
    account: MarketplaceAccount,
    *,
    limiter: RateLimiter | None = None,
) -> TikTokShopClient:
    """A client for the account's shop with a token that is good for a while, which renews
    it should TikTok Shop say it expired in the middle of a run."""
    if not account.is_usable:
        problem = account_problem(account)
        raise AccountUnusable(problem.reason if problem else "This account cannot be used.")
    ensure_fresh_token(session, app, account)

    def renew_token() -> str:
        ensure_fresh_token(session, app, account, force=True)
        return account.access_token

    return app.client(
        access_token=account.access_token,
        shop_cipher=account.shop_cipher,
        limiter=limiter,
        renew_token=renew_token,
    )


def set_account_active(
    session: Session, account: MarketplaceAccount, active: bool, *, actor: User
) -> None:
    if active and account.status not in (AccountStatus.INACTIVE, AccountStatus.ACTIVE):
        raise AccountError("This account needs to be reconnected before it can be switched on.")
    account.status = AccountStatus.ACTIVE if active else AccountStatus.INACTIVE
    account.status_reason = ""
    record_event(
        session,
        actor=actor,
        organization_id=account.organization_id,
        action="account.activated" if active else "account.deactivated",
        target=f"account:{account.id}",
    )


def set_account_store(
    session: Session, account: MarketplaceAccount, store_id: int | None, *, actor: User
) -> None:
    account.store_id = store_id
    record_event(
        session,
        actor=actor,
        organization_id=account.organization_id,
        action="account.store_changed",
        target=f"account:{account.id}",
        store_id=store_id,
    )
