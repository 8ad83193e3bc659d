"""The account selector at the top of every page, and why an account cannot be used."""

from __future__ import annotations

from dataclasses import dataclass

from webapp.accounts.models import AccountStatus, MarketplaceAccount

STATUS_LABELS = {
    AccountStatus.ACTIVE: "Active",
    AccountStatus.INACTIVE: "Inactive",
    AccountStatus.AUTH_EXPIRED: "Authorization expired",
    AccountStatus.DISCONNECTED: "Disconnected",
}


@dataclass(frozen=True)
class AccountProblem:
    """Why an account cannot be used, and the action that fixes it: connect, activate or
    reconnect (the template turns the action into a button)."""

    account: MarketplaceAccount | None
    reason: str
    action: str


@dataclass(frozen=True)
class AccountSelector:
    accounts: list[MarketplaceAccount]
    current: MarketplaceAccount | None
    problems: list[AccountProblem]
    warnings: list[AccountProblem]  # usable accounts that soon will not be (expiring access)

    @property
    def has_usable_account(self) -> bool:
        return any(account.is_usable for account in self.accounts)


def account_problem(account: MarketplaceAccount) -> AccountProblem | None:
    if account.status is AccountStatus.ACTIVE:
        return None
    if account.status is AccountStatus.INACTIVE:
        reason = "This account is switched off, so nothing is imported or synced."
        return AccountProblem(account, account.status_reason or reason, "activate")
    if account.status is AccountStatus.AUTH_EXPIRED:
        reason = "TikTok Shop authorization expired. Reconnect to authorize SKU Bridge again."
        return AccountProblem(account, account.status_reason or reason, "reconnect")
    reason = "The seller removed SKU Bridge's access in TikTok Shop. Reconnect to restore it."
    return AccountProblem(account, account.status_reason or reason, "reconnect")


def account_selector(
    accounts: list[MarketplaceAccount], current: MarketplaceAccount | None
) -> AccountSelector:
    problems = [p for p in map(account_problem, accounts) if p is not None]
    if not accounts:
        problems = [
            AccountProblem(None, "No TikTok Shop account is connected yet.", "connect"),
        ]
    warnings = [
        AccountProblem(account, account.status_reason, "reconnect")
        for account in accounts
        if account.is_usable and account.status_reason
    ]
    return AccountSelector(accounts=accounts, current=current, problems=problems, warnings=warnings)
