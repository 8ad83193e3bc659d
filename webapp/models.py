"""Every model, imported in one place so Alembic and the shell see the whole schema."""

from webapp.accounts.models import (
    AccountStatus,
    MarketplaceAccount,
    Organization,
    PendingAuthorization,
    Store,
    User,
    UserRole,
)
from webapp.api.models import ApiToken
from webapp.audit import AuditEvent
from webapp.catalog.models import MarketplaceSku, StoreSku
from webapp.csvio.models import MappingImport, MappingImportRow
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.models import (
    AutomapDecision,
    FailureKindCount,
    Link,
    LinkComponent,
    LinkEvent,
    LinkState,
    LinkStateCount,
)
from webapp.orders.models import Order, OrderItem, OrderState
from webapp.sync.models import LinkSync, SyncSettings

__all__ = [
    "AccountStatus",
    "ApiToken",
    "AuditEvent",
    "JobKind",
    "JobRun",
    "JobStatus",
    "Link",
    "LinkComponent",
    "LinkEvent",
    "AutomapDecision",
    "FailureKindCount",
    "LinkState",
    "LinkStateCount",
    "LinkSync",
    "MappingImport",
    "MappingImportRow",
    "MarketplaceAccount",
    "MarketplaceSku",
    "Order",
    "OrderItem",
    "OrderState",
    "Organization",
    "PendingAuthorization",
    "Store",
    "StoreSku",
    "SyncSettings",
    "User",
    "UserRole",
]
