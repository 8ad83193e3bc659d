"""Per-account settings the owner chooses (DESIGN.md, Settings)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, User
from webapp.audit import record_event


def set_auto_link(
    session: Session, account: MarketplaceAccount, enabled: bool, *, actor: User
) -> None:
    """Whether imports map new products with the auto-map rules from now on.

    Answering the first-import question sets it too; it stays None until someone answers.
    """
    before = account.auto_link_new_products
    account.auto_link_new_products = enabled
    record_event(
        session,
        actor=actor,
        organization_id=account.organization_id,
        action="account.auto_link_on" if enabled else "account.auto_link_off",
        target=f"account:{account.id}",
        account_id=account.id,
        before=before,
    )
