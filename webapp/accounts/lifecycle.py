"""What TikTok Shop tells us about an authorization (webhooks 6 and 7), reflected on the
account so the account selector says it and sync pauses, instead of calls failing later."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.accounts.models import AccountStatus, MarketplaceAccount
from webapp.audit import record_event


def accounts_of_shop(session: Session, shop_id: str) -> list[MarketplaceAccount]:
    return list(
        session.scalars(select(MarketplaceAccount).where(MarketplaceAccount.shop_id == shop_id))
    )


def seller_deauthorized(session: Session, shop_id: str, when: int) -> int:
    """The seller removed SKU Bridge's access: the account is disconnected until reconnected."""
    accounts = accounts_of_shop(session, shop_id)
    on = _date(when)
    for account in accounts:
        account.status = AccountStatus.DISCONNECTED
        account.status_reason = (
            f"The seller removed SKU Bridge's access in TikTok Shop on {on}: sync and orders "
            "are paused. Reconnect to restore them."
        )
        _audit(session, account, "account.deauthorized")
    session.commit()
    return len(accounts)


def authorization_expiring(session: Session, shop_id: str, expires_at: int | None) -> int:
    """The authorization ends soon: the account keeps working and says so until reconnected."""
    accounts = accounts_of_shop(session, shop_id)
    when = f"on {_date(expires_at)}" if expires_at else "soon"
    for account in accounts:
        if account.status is AccountStatus.ACTIVE:
            account.status_reason = (
                f"TikTok Shop authorization ends {when}. Reconnect before then to keep sync "
                "and orders running."
            )
            _audit(session, account, "account.authorization_expiring")
    session.commit()
    return len(accounts)


def _date(timestamp: int | None) -> str:
    return datetime.fromtimestamp(timestamp or 0, UTC).strftime("%Y-%m-%d")


def _audit(session: Session, account: MarketplaceAccount, action: str) -> None:
    record_event(
        session,
        actor=None,
        organization_id=account.organization_id,
        action=action,
        target=f"account:{account.id}",
        account_id=account.id,
    )
