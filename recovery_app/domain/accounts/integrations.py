"""Settings -> Integrations: which providers this deployment is configured for, the webhook
addresses to paste into Twilio, SendGrid, GoHighLevel and Calendly, when each last called us
for this office, and how many calls were refused for a bad or missing signature."""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import per_transaction
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.audit import service as audit
from recovery_app.errors import Conflict
from recovery_app.models import ApiKey, Tenant, TenantIntegration, WebhookEvent, WebhookFailure
from recovery_app.routes import API_PREFIX
from recovery_app.settings import Settings, get_settings

logger = logging.getLogger(__name__)

FAILURE_DAYS = 7
# The provider a refused webhook path belongs to (the path after /api/v1/webhooks/).
PATH_PROVIDERS = {
    "twilio": "twilio",
    "sendgrid": "sendgrid",
    "ghl": "ghl",
    "leads": "leads",
    "calendly": "calendly",
}


@dataclass(frozen=True, slots=True)
class Integration:
    key: str
    name: str
    configured: bool
    detail: str
    # (what it is for, the address to paste)
    urls: list[tuple[str, str]] = field(default_factory=list)
    last_received_at: datetime | None = None
    signature_failures: int = 0


def provider_of_path(path: str) -> str | None:
    """`/api/v1/webhooks/twilio/sms` -> "twilio"; None for anything not a webhook."""
    prefix = f"{API_PREFIX}/webhooks/"
    if not path.startswith(prefix):
        return None
    return PATH_PROVIDERS.get(path[len(prefix) :].split("/", 1)[0])


def record_signature_failure(session: Session, *, provider: str, now: datetime) -> None:
    """Count one refused call (one row per provider and day, incremented in place)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(WebhookFailure).values(
        provider=provider, day=now.astimezone(UTC).date(), count=1, last_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["provider", "day"],
            set_={"count": WebhookFailure.__table__.c.count + 1, "last_at": now},  # type: ignore[attr-defined]
        )
    )


def signature_failures(session: Session, *, since: date | None = None) -> dict[str, int]:
    """Refused webhook calls per provider since `since`, or ever (/metrics: the table holds a
    row per provider and day and is never pruned, so the sum only grows)."""
    stmt = select(col(WebhookFailure.provider), func.sum(col(WebhookFailure.count)))
    if since is not None:
        stmt = stmt.where(col(WebhookFailure.day) >= since)
    rows = session.execute(stmt.group_by(col(WebhookFailure.provider))).all()
    return {provider: int(total or 0) for provider, total in rows}


def integration_status(
    session: Session, *, viewer: Viewer, now: datetime, settings: Settings | None = None
) -> list[Integration]:
    require_manager(viewer, "see the integrations")
    settings = settings or get_settings()
    base = f"{settings.app_base_url}{API_PREFIX}/webhooks"
    last = dict(
        session.execute(
            select(col(WebhookEvent.provider), func.max(col(WebhookEvent.received_at)))
            .where(col(WebhookEvent.tenant_id) == viewer.tenant_id)
            .group_by(col(WebhookEvent.provider))
        ).all()
    )
    failures = signature_failures(session, since=(now - timedelta(days=FAILURE_DAYS)).date())
    keys = session.execute(
        select(func.count())
        .select_from(ApiKey)
        .where(col(ApiKey.tenant_id) == viewer.tenant_id, col(ApiKey.revoked_at).is_(None))
    ).scalar_one()

    def latest(*providers: str) -> datetime | None:
        found = [last[p] for p in providers if last.get(p) is not None]
        return max(found) if found else None

    sender = "a messaging service" if settings.twilio_messaging_service_sid else "a number"
    tenant = session.get(Tenant, viewer.tenant_id)
    # Calendly posts for every office to one address; the office is named in the URL.
    calendly_url = f"{base}/calendly?" + urlencode(
        {"location_id": tenant.location_id if tenant else ""}
    )
    return [
        Integration(
            key="twilio",
            name="Twilio (SMS)",
            configured=settings.twilio_configured,
            detail=(
                f"Sending from {sender}; inbound texts, STOP/START and delivery receipts come "
                "back through the two webhooks."
                if settings.twilio_configured
                else "Set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER (or "
                "TWILIO_MESSAGING_SERVICE_SID). Until then texts stay in the outbox."
            ),
            urls=[
                ("A message comes in (Messaging webhook)", f"{base}/twilio/sms"),
                ("Status callback", f"{base}/twilio/status"),
            ],
            last_received_at=latest("twilio_sms", "twilio_status"),
            signature_failures=int(failures.get("twilio") or 0),
        ),
        Integration(
            key="sendgrid",
            name="SendGrid (email)",
            configured=settings.sendgrid_configured,
            detail=(
                "Sending email; opens, clicks, bounces and unsubscribes come back through the "
                "event webhook"
                + (" (signed)." if settings.sendgrid_webhook_public_key else " (unsigned).")
                if settings.sendgrid_configured
                else "Set SENDGRID_API_KEY and SENDGRID_FROM_EMAIL. Until then email stays in "
                "the outbox."
            ),
            urls=[("Event webhook (all events)", f"{base}/sendgrid/events")],
            last_received_at=latest("sendgrid"),
            signature_failures=int(failures.get("sendgrid") or 0),
        ),
        Integration(
            key="ghl",
            name="GoHighLevel",
            configured=bool(settings.ghl_webhook_public_key or settings.ghl_webhook_rsa_public_key),
            detail="Contact and message webhooks create and update leads (signature checked).",
            urls=[("Workflow webhook", f"{base}/ghl")],
            last_received_at=latest("ghl"),
            signature_failures=int(failures.get("ghl") or 0),
        ),
        Integration(
            key="leads",
            name="Web forms and other sources",
            configured=bool(settings.lead_webhook_secret) or keys > 0,
            detail=(
                f"Post leads with an API key ({keys} active)"
                + (" or signed with LEAD_WEBHOOK_SECRET." if settings.lead_webhook_secret else ".")
            ),
            urls=[("Lead intake", f"{base}/leads")],
            last_received_at=latest("leads"),
            signature_failures=int(failures.get("leads") or 0),
        ),
        Integration(
            key="calendly",
            name="Calendly (appointments)",
            configured=bool(settings.calendly_webhook_signing_key),
            detail=(
                "Bookings through an agent's link (Settings -> Team) mark the lead's appointment: "
                "nurture stops, the score rises, the agent is told; cancellations undo it. "
                "Subscribe to invitee.created and invitee.canceled with the signing key."
                if settings.calendly_webhook_signing_key
                else "Set CALENDLY_WEBHOOK_SIGNING_KEY to the signing key of your Calendly webhook "
                "subscription; until then the webhook answers 503."
            ),
            urls=[("Webhook subscription (invitee.created, invitee.canceled)", calendly_url)],
            last_received_at=latest("calendly"),
            signature_failures=int(failures.get("calendly") or 0),
        ),
        Integration(
            key="anthropic",
            name="Anthropic (AI drafts)",
            configured=bool(settings.anthropic_api_key),
            detail=(
                f"Drafting with {settings.anthropic_model or 'the default model'}; templates are "
                "the fallback."
                if settings.anthropic_api_key
                else "Set ANTHROPIC_API_KEY to personalise campaign steps; until then the "
                "templates are sent as written."
            ),
        ),
    ]


# --- an office's outbound integrations: settings and health ------------------------------------
# One `tenant_integrations` row per office and integration; what it says about health (last
# success, last error, "needs attention") is written here for every integration alike.

NEEDS_ATTENTION = "needs_attention"


def integration_row(
    session: Session, *, tenant_id: int, integration: str, create: bool = False
) -> TenantIntegration | None:
    """The office's row for `integration`; with `create`, a new one (defaults) when missing."""
    rows = _rows_of(session, tenant_id)
    row = rows.get(integration)
    if row is None and create:
        row = TenantIntegration(tenant_id=tenant_id, integration=integration)
        session.add(row)
        session.flush()
        rows[integration] = row
    return row


def _rows_of(session: Session, tenant_id: int) -> dict[str, TenantIntegration]:
    """All of the office's integration rows, read once a transaction: a new lead asks about
    three of them (GoHighLevel, Apollo, Slack), and each sent message about GoHighLevel."""

    def load() -> dict[str, TenantIntegration]:
        found = session.execute(
            select(TenantIntegration).where(col(TenantIntegration.tenant_id) == tenant_id)
        ).scalars()
        return {row.integration: row for row in found}

    return per_transaction(session, ("tenant_integrations", tenant_id), load)


@dataclass(frozen=True, slots=True)
class OfficeCredential:
    """An office's settings row for one outbound integration and the credential it uses: its
    own, else the deployment's default from the environment."""

    row: TenantIntegration | None
    credential: str | None
    source: str  # "office", "environment", or "" when there is none
    config: dict[str, Any]
    # Demo offices and visitors' sandboxes never call out (DEMO_MODE: nothing is sent).
    demo: bool


def refuse_demo_calls(session: Session, tenant_id: int) -> None:
    """Demo offices (the seeded brokerage and visitors' sandboxes) make no calls outside this
    server, tests included: what a demo visitor types must not make the server knock on
    any address for them."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or tenant.is_demo or tenant.demo_expires_at is not None:
        raise Conflict(
            "This is a demo office: it makes no calls outside this server (its texts, emails "
            "and alerts are not sent for real either)."
        )


def office_credential(
    session: Session, *, tenant_id: int, integration: str, default: str | None
) -> OfficeCredential:
    tenant = session.get(Tenant, tenant_id)
    row = integration_row(session, tenant_id=tenant_id, integration=integration)
    own = row.secret if row is not None else None
    credential = own or default
    return OfficeCredential(
        row=row,
        credential=credential,
        source="office" if own else "environment" if credential else "",
        config=row.config if row is not None else {},
        demo=tenant is None or tenant.is_demo or tenant.demo_expires_at is not None,
    )


def settings_of(
    row: TenantIntegration, *, secret: str, mask: Callable[[str | None], str]
) -> dict[str, Any]:
    """An integration's settings as its audit entries keep them: the credential (under the
    name `secret`) masked, on/off and the config."""
    return {secret: mask(row.secret), "enabled": row.enabled, "config": dict(row.config or {})}


def audit_settings_change(
    session: Session,
    *,
    viewer: Viewer,
    row: TenantIntegration,
    before: dict[str, Any],
    after: dict[str, Any],
    integration: str,
) -> None:
    """Audit a manager's change to an integration's settings (`settings_of` before and after):
    only the keys that moved, nothing when none did."""
    if after == before:
        return
    audit.record(
        session,
        action="tenant.integration_changed",
        entity_type="tenant_integration",
        entity_id=row.id,
        tenant_id=viewer.tenant_id,
        actor=viewer,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v} | {"integration": integration},
    )


def credential_key(credential: str) -> str:
    """What is remembered of a refused credential: its SHA-256, never the thing itself."""
    return hashlib.sha256(credential.encode()).hexdigest()


def needs_attention(row: TenantIntegration | None, credential: str | None) -> bool:
    """The provider refused `credential` for good and nobody has changed it since."""
    return (
        row is not None
        and credential is not None
        and row.status == NEEDS_ATTENTION
        and row.attention_key == credential_key(credential)
    )


def record_ok(row: TenantIntegration, *, now: datetime) -> None:
    row.status, row.attention_key, row.last_ok_at, row.updated_at = "ok", None, now, now


def record_error(
    row: TenantIntegration, detail: str, *, now: datetime, refused: str | None = None
) -> None:
    """Note an error; with `refused` (the credential the provider rejected for good) the
    integration needs attention and stops calling until the credential changes."""
    row.last_error, row.last_error_at, row.updated_at = detail[:500], now, now
    if refused is not None:
        row.status, row.attention_key = NEEDS_ATTENTION, credential_key(refused)
