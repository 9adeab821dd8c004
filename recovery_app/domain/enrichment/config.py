"""Each office's Apollo settings: the key (its own, else the deployment's `APOLLO_API_KEY`),
whether it is on (off until a manager turns it on: lookups cost credits), the monthly call
budget, and the state Settings shows (off / ok / needs attention)."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from recovery_app.domain.accounts import integrations
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.enrichment import repository
from recovery_app.errors import ValidationFailed
from recovery_app.integrations import apollo
from recovery_app.models import TenantIntegration
from recovery_app.settings import Settings, get_settings

APOLLO = "apollo"
DEFAULT_MONTHLY_BUDGET = 500
MAX_MONTHLY_BUDGET = 100_000


def month_start(now: datetime) -> datetime:
    """Budgets run per calendar month in UTC."""
    moment = now.astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class OfficeApollo:
    row: TenantIntegration | None
    key: str | None  # the office's own key, else the deployment's
    source: str  # "office" | "environment" | ""
    enabled: bool
    monthly_budget: int
    base_url: str
    demo: bool = False

    @property
    def active(self) -> bool:
        return self.enabled and self.key is not None and not self.demo

    @property
    def attention(self) -> bool:
        return integrations.needs_attention(self.row, self.key)

    @property
    def account(self) -> str:
        """Whose answers these are: the SHA-256 of the key (the cache's scope)."""
        return integrations.credential_key(self.key or "")

    @property
    def paused_until(self) -> datetime | None:
        """Apollo said 429 with a wait: no call for this office before then."""
        value = (self.row.state or {}).get("paused_until") if self.row else None
        return datetime.fromisoformat(value) if value else None

    @property
    def state(self) -> str:
        if not self.active:
            return "off"
        return integrations.NEEDS_ATTENTION if self.attention else "ok"


def office_apollo(
    session: Session, *, tenant_id: int, settings: Settings | None = None
) -> OfficeApollo:
    settings = settings or get_settings()
    found = integrations.office_credential(
        session, tenant_id=tenant_id, integration=APOLLO, default=settings.apollo_api_key
    )
    return OfficeApollo(
        row=found.row,
        key=found.credential,
        source=found.source,
        # Off without a row: a deployment key alone must not start spending an office's credits.
        enabled=found.row.enabled if found.row is not None else False,
        monthly_budget=int(found.config.get("monthly_budget", DEFAULT_MONTHLY_BUDGET)),
        base_url=settings.apollo_api_base_url,
        # Demo offices never make paid calls (like their texts and emails, nothing goes out).
        demo=found.demo,
    )


@dataclass(frozen=True, slots=True)
class ApolloStatus:
    """What Settings -> Office shows about enrichment."""

    state: str  # "off" | "ok" | "needs_attention"
    source: str
    masked_key: str
    enabled: bool
    monthly_budget: int
    calls_this_month: int
    pending: int
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    paused_until: datetime | None
    environment_default: bool
    demo: bool


def apollo_status(session: Session, *, viewer: Viewer, now: datetime) -> ApolloStatus:
    require_manager(viewer, "see the enrichment settings")
    office = office_apollo(session, tenant_id=viewer.tenant_id)
    row = office.row
    paused = office.paused_until
    return ApolloStatus(
        state=office.state,
        source=office.source,
        masked_key=apollo.mask(office.key),
        enabled=office.enabled,
        monthly_budget=office.monthly_budget,
        calls_this_month=repository.charged_calls(
            session, tenant_id=viewer.tenant_id, provider=APOLLO, since=month_start(now)
        ),
        pending=repository.pending_count(session, tenant_id=viewer.tenant_id),
        last_ok_at=row.last_ok_at if row else None,
        last_error=row.last_error if row else None,
        last_error_at=row.last_error_at if row else None,
        paused_until=paused if paused is not None and paused > now else None,
        environment_default=bool(get_settings().apollo_api_key),
        demo=office.demo,
    )


@dataclass(frozen=True, slots=True)
class ApolloChanges:
    """A manager's enrichment form. `key` "" keeps the office's key; `remove_key` drops it
    (the deployment's key applies again, if there is one)."""

    key: str = ""
    remove_key: bool = False
    enabled: bool = False
    monthly_budget: str = str(DEFAULT_MONTHLY_BUDGET)


def save_apollo(
    session: Session, *, viewer: Viewer, changes: ApolloChanges, now: datetime
) -> ApolloStatus:
    """Managers: the office's Apollo key, on/off and monthly budget (audited, the key masked)."""
    require_manager(viewer, "change the enrichment settings")
    problems: dict[str, str] = {}
    key: str | None = None
    try:
        key = apollo.check_key(changes.key)
    except ValueError as exc:
        problems["apollo_key"] = str(exc)
    budget = 0
    try:
        budget = int(str(changes.monthly_budget).strip())
        if not 0 <= budget <= MAX_MONTHLY_BUDGET:
            raise ValueError
    except ValueError:
        problems["monthly_budget"] = f"a whole number from 0 to {MAX_MONTHLY_BUDGET}"
    if problems:
        raise ValidationFailed("Some enrichment settings are invalid.", fields=problems)
    row = integrations.integration_row(
        session, tenant_id=viewer.tenant_id, integration=APOLLO, create=True
    )
    assert row is not None
    before = integrations.settings_of(row, secret="key", mask=apollo.mask)
    old_key, was_enabled = row.secret, row.enabled
    if key is not None and key != row.secret:
        row.secret = key
    elif changes.remove_key:
        row.secret = None
    row.enabled = changes.enabled
    row.config = dict(row.config or {}) | {"monthly_budget": budget}
    row.updated_at = now
    after = integrations.settings_of(row, secret="key", mask=apollo.mask)
    if row.secret != old_key or (row.enabled and not was_enabled):
        # A new key (or enrichment back on): what waited on the old one gets a fresh try.
        repository.release_waiting(session, tenant_id=viewer.tenant_id, now=now)
    integrations.audit_settings_change(
        session, viewer=viewer, row=row, before=before, after=after, integration=APOLLO
    )
    return apollo_status(session, viewer=viewer, now=now)
