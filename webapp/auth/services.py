"""Users: creation and authentication. No HTTP here."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.accounts.models import Organization, User, UserRole
from webapp.domain import DomainError
from webapp.extensions import utcnow


class UserError(DomainError, ValueError):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None or not user.check_password(password):
        return None
    user.last_login_at = utcnow()
    return user


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: UserRole,
    organization_name: str | None = None,
    name: str = "",
) -> User:
    """Create a user; members (owner, staff) belong to an organization, made if new."""
    email = normalize_email(email)
    if "@" not in email:
        raise UserError(f"{email!r} is not an email address")
    if len(password) < 8:
        raise UserError("The password needs at least 8 characters")
    if session.scalar(select(User).where(User.email == email)):
        raise UserError(f"A user with the email {email} already exists")
    organization = None
    if role is not UserRole.SUPPORT:
        if not organization_name:
            raise UserError(f"A {role.value} user needs an organization")
        organization = get_or_create_organization(session, organization_name)
    user = User(email=email, name=name, role=role, organization=organization)
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def get_or_create_organization(session: Session, name: str) -> Organization:
    name = name.strip()
    organization = session.scalar(
        select(Organization).where(func.lower(Organization.name) == name.lower())
    )
    if organization is None:
        organization = Organization(name=name)
        session.add(organization)
        session.flush()
    return organization
