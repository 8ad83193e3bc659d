"""Changing an account's sync settings (the Settings page), audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from webapp.accounts.models import MarketplaceAccount, User
from webapp.audit import record_event
from webapp.sync.models import SyncSettings


def save_sync_settings(
    session: Session, account: MarketplaceAccount, values: dict[str, Any], *, actor: User
) -> SyncSettings:
    settings = session.get(SyncSettings, account.id)
    if settings is None:
        settings = SyncSettings.defaults(account.id)
        session.add(settings)
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    changed = {name: value for name, value in values.items() if before[name] != value}
    if changed:
        record_event(
            session,
            actor=actor,
            organization_id=account.organization_id,
            action="account.sync_settings",
            target=f"account:{account.id}",
            account_id=account.id,
            before={name: before[name] for name in changed},
            after=changed,
        )
    session.commit()
    return settings
