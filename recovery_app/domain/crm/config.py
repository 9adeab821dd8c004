"""Each office's GoHighLevel sync settings: its token (a Private Integration token or an OAuth
access token of the sub-account whose id is the office's location id), whether write-backs
are on (off until a manager turns them on), the pipeline stage a converted lead's opportunity
goes to, and the state Settings shows (off / ok / needs attention) with the import's
progress."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from recovery_app.domain.accounts import integrations
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.domain.crm import repository
from recovery_app.errors import Conflict, ValidationFailed
from recovery_app.integrations import ghl
from recovery_app.models import Tenant, TenantIntegration
from recovery_app.settings import Settings, get_settings

GHL = "ghl"
TAG_PREFIX = "recovery:"
# (fieldKey, name, dataType) of the custom fields the score and temperature go to; created in
# the location on first use when it has none by that key or name.
SCORE_FIELD = ("contact.recovery_score", "Recovery score", "NUMERICAL")
TEMPERATURE_FIELD = ("contact.recovery_temperature", "Recovery temperature", "TEXT")


def status_tag(status: str) -> str:
    return f"{TAG_PREFIX}{status}"


@dataclass(frozen=True, slots=True)
class OfficeGhl:
    row: TenantIntegration | None
    token: str | None
    enabled: bool
    location_id: str
    base_url: str
    # "pipeline_id/stage_id" a converted lead's opportunity moves to; "" picks the first
    # pipeline's stage named like "won" (else its last stage).
    won_stage: str = ""
    demo: bool = False

    @property
    def active(self) -> bool:
        return self.enabled and self.token is not None and bool(self.location_id) and not self.demo

    @property
    def attention(self) -> bool:
        return integrations.needs_attention(self.row, self.token)

    @property
    def state_data(self) -> dict[str, Any]:
        return dict(self.row.state or {}) if self.row is not None else {}

    @property
    def paused_until(self) -> datetime | None:
        """GoHighLevel said 429 with a wait: no call for this office before then."""
        value = self.state_data.get("paused_until")
        return datetime.fromisoformat(value) if value else None

    @property
    def state(self) -> str:
        if not self.active:
            return "off"
        return integrations.NEEDS_ATTENTION if self.attention else "ok"


def office_ghl(session: Session, *, tenant_id: int, settings: Settings | None = None) -> OfficeGhl:
    settings = settings or get_settings()
    # Tokens belong to one sub-account: there is no deployment-wide default.
    found = integrations.office_credential(
        session, tenant_id=tenant_id, integration=GHL, default=None
    )
    tenant = session.get(Tenant, tenant_id)
    return OfficeGhl(
        row=found.row,
        token=found.credential,
        enabled=found.row.enabled if found.row is not None else False,
        location_id=tenant.location_id if tenant is not None else "",
        base_url=settings.ghl_api_base_url,
        won_stage=str(found.config.get("won_stage") or ""),
        demo=found.demo,
    )


@dataclass(frozen=True, slots=True)
class GhlStatus:
    """What Settings -> Office shows about GoHighLevel."""

    state: str  # "off" | "ok" | "needs_attention"
    masked_token: str
    enabled: bool
    location_id: str
    won_stage: str
    stages: list[dict[str, str]]  # what Test connection found (pipeline/stage names and ids)
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_sync_at: datetime | None
    counts: dict[str, int]
    paused_until: datetime | None
    daily_remaining: int | None
    import_progress: dict[str, Any] = field(default_factory=dict)
    demo: bool = False


def ghl_status(session: Session, *, viewer: Viewer, now: datetime) -> GhlStatus:
    require_manager(viewer, "see the GoHighLevel settings")
    office = office_ghl(session, tenant_id=viewer.tenant_id)
    row, state = office.row, office.state_data
    paused = office.paused_until
    counts, last_sync = repository.office_counts(session, tenant_id=viewer.tenant_id)
    return GhlStatus(
        state=office.state,
        masked_token=ghl.mask(office.token),
        enabled=office.enabled,
        location_id=office.location_id,
        won_stage=office.won_stage,
        stages=list(state.get("stages") or []),
        last_ok_at=row.last_ok_at if row else None,
        last_error=row.last_error if row else None,
        last_error_at=row.last_error_at if row else None,
        last_sync_at=last_sync,
        counts=counts,
        paused_until=paused if paused is not None and paused > now else None,
        daily_remaining=(state.get("limits") or {}).get("daily_remaining"),
        import_progress=dict(state.get("import") or {}),
        demo=office.demo,
    )


@dataclass(frozen=True, slots=True)
class GhlChanges:
    """A manager's GoHighLevel form. `token` "" keeps the office's token; `remove_token`
    drops it (the sync is off without one)."""

    token: str = ""
    remove_token: bool = False
    enabled: bool = False
    won_stage: str = ""


def save_ghl(session: Session, *, viewer: Viewer, changes: GhlChanges, now: datetime) -> GhlStatus:
    """Managers: the office's token, on/off and the won stage (audited, the token masked).
    Saving is a person saying "fixed": a "needs attention" lifts and waiting writes go."""
    require_manager(viewer, "change the GoHighLevel settings")
    problems: dict[str, str] = {}
    token: str | None = None
    try:
        token = ghl.check_token(changes.token)
    except ValueError as exc:
        problems["ghl_token"] = str(exc)
    row = integrations.integration_row(
        session, tenant_id=viewer.tenant_id, integration=GHL, create=True
    )
    assert row is not None
    known = {f"{s['pipeline_id']}/{s['stage_id']}" for s in (row.state or {}).get("stages") or []}
    stage = changes.won_stage.strip()
    if stage and stage not in known and stage != (row.config or {}).get("won_stage"):
        problems["won_stage"] = "a stage from the list (run Test connection to load them)"
    if problems:
        raise ValidationFailed("Some GoHighLevel settings are invalid.", fields=problems)
    before = integrations.settings_of(row, secret="token", mask=ghl.mask)
    if token is not None and token != row.secret:
        row.secret = token
        # Another token may see another sub-account: what was learned about this one goes.
        row.state = {k: v for k, v in (row.state or {}).items() if k == "import"}
    elif changes.remove_token:
        row.secret = None
    row.enabled = changes.enabled
    row.config = dict(row.config or {}) | {"won_stage": stage}
    row.status, row.attention_key, row.updated_at = "ok", None, now
    row.state = {k: v for k, v in (row.state or {}).items() if k != "paused_until"}
    repository.release_waiting(session, tenant_id=viewer.tenant_id, now=now)
    session.info.pop("ghl_syncing", None)  # writeback.syncing's answer for this session
    after = integrations.settings_of(row, secret="token", mask=ghl.mask)
    integrations.audit_settings_change(
        session, viewer=viewer, row=row, before=before, after=after, integration=GHL
    )
    return ghl_status(session, viewer=viewer, now=now)


def start_import(session: Session, *, viewer: Viewer, now: datetime) -> GhlStatus:
    """Managers: queue the full import of the location's contacts; the `ghl_import` job pages
    through them from where it stopped (its cursor), whatever restarts in between."""
    require_manager(viewer, "import contacts from GoHighLevel")
    office = office_ghl(session, tenant_id=viewer.tenant_id)
    if office.token is None:
        raise Conflict("No GoHighLevel token yet: paste one and save, then import.")
    if office.demo:
        raise Conflict("A demo office does not call GoHighLevel.")
    if office.attention:
        raise Conflict("GoHighLevel needs attention: fix the token (Save or Test connection).")
    assert office.row is not None
    progress = dict(office.state_data.get("import") or {})
    if progress.get("status") == "running":
        raise Conflict("An import is already running; its progress is shown here.")
    if progress.get("status") == "paused":  # stopped by a refused token or an error: resume
        progress |= {"status": "running", "error": None}
    else:
        progress = {
            "status": "running",
            "cursor": None,
            "total": None,
            "seen": 0,
            "imported": 0,
            "merged": 0,
            "rejected": 0,
            "started_at": now.isoformat(),
            "finished_at": None,
            "error": None,
        }
    office.row.state = office.state_data | {"import": progress}
    audit.record(
        session,
        action="tenant.ghl_import_started",
        entity_type="tenant_integration",
        entity_id=office.row.id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        after={"integration": GHL},
    )
    return ghl_status(session, viewer=viewer, now=now)
