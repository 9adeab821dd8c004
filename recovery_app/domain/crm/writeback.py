"""What the engine writes back to GoHighLevel, queued in the transaction that learned it:

- the lead's status as a tag (`recovery:silent`, `recovery:recovered` ...; the old one removed),
- its score and temperature as two custom fields,
- a note for each recovery message sent and each reply received (not for replies that came
  in through GoHighLevel itself: those are already in its conversation),
- the opportunity, moved to the won stage with the deal's value, when the lead converts,
- and the contact itself (upserted by email or phone) when a person asks for a resync.

Nothing here calls GoHighLevel: the `ghl_sync` job does, so intake and sending never wait on
it. Offices without the sync on queue nothing. The state-like writes (contact, status,
fields) are one row per lead, re-armed by each change; notes and opportunities are one row per
message or deal, never twice.
"""

import html
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.crm import repository
from recovery_app.domain.crm.config import office_ghl
from recovery_app.errors import Conflict
from recovery_app.models import Channel, Conversion, Direction, GhlWrite, Lead, Message, pk

STATE_KINDS = ("contact", "status", "fields")
NOTE_LIMIT = 4000


def marker(message_id: int) -> str:
    """What a note carries so a retry can find it at GoHighLevel (notes have no idempotency
    key there)."""
    return f"[recovery-engine message {message_id}]"


def syncing(session: Session, tenant_id: int) -> bool:
    """Is the office's GoHighLevel sync on? Remembered for the session (every status change and
    rescore asks; a session is one request or one job run)."""
    cache: dict[int, bool] = session.info.setdefault("ghl_syncing", {})
    if tenant_id not in cache:
        cache[tenant_id] = office_ghl(session, tenant_id=tenant_id).active
    return cache[tenant_id]


def _row(
    tenant_id: int, lead_id: int, kind: str, key: str, summary: str, now: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "lead_id": lead_id,
        "kind": kind,
        "idempotency_key": key,
        "summary": summary[:300],
        "payload": extra.pop("payload", {}),
        "version": 1,
        "sent_version": 0,
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _state_row(tenant_id: int, lead_id: int, kind: str, now: datetime) -> dict[str, Any]:
    summary = {
        "contact": "Contact (name, email, phone)",
        "status": "Status tag",
        "fields": "Score and temperature fields",
    }[kind]
    return _row(tenant_id, lead_id, kind, f"ghl:{kind}:{lead_id}", summary, now)


def leads_changed(
    session: Session, *, tenant_id: int, lead_ids: Iterable[int], kind: str, now: datetime
) -> None:
    """Queue (or re-arm) the `kind` write ("status", "fields", "contact") of these leads."""
    assert kind in STATE_KINDS
    ids = sorted(set(lead_ids))
    if not ids or not syncing(session, tenant_id):
        return
    repository.enqueue(
        session, [_state_row(tenant_id, lead_id, kind, now) for lead_id in ids], rearm=True
    )


def status_changed(session: Session, lead: Lead, *, now: datetime) -> None:
    leads_changed(session, tenant_id=lead.tenant_id, lead_ids=[pk(lead)], kind="status", now=now)


def scored(session: Session, lead: Lead, *, now: datetime) -> None:
    leads_changed(session, tenant_id=lead.tenant_id, lead_ids=[pk(lead)], kind="fields", now=now)


def _note_body(message: Message) -> tuple[str, str]:
    channel = "text" if message.channel == Channel.SMS else "email"
    if message.direction == Direction.INBOUND:
        title = f"Reply by {channel}"
    else:
        title = f"Recovery {channel} sent"
    parts = [title + ":"]
    if message.subject:
        parts.append(f"Subject: {message.subject}")
    parts.append(message.body or "")
    # GoHighLevel shows notes as rich text: the lead's words are escaped, never markup.
    text = html.escape("\n".join(parts), quote=False)[:NOTE_LIMIT]
    return title, f"{text}\n\n{marker(pk(message))}"


def message_noted(session: Session, lead: Lead, message: Message, *, now: datetime) -> None:
    """A recovery message went out or a reply came in: one note, whatever retries."""
    if message.provider == "ghl" or not syncing(session, lead.tenant_id):
        return
    title, body = _note_body(message)
    repository.enqueue(
        session,
        [
            _row(
                lead.tenant_id,
                pk(lead),
                "note",
                f"ghl:note:message:{pk(message)}",
                f"Note: {title.lower()}",
                now,
                payload={"body": body, "marker": marker(pk(message))},
            )
        ],
        rearm=False,
    )


def converted(session: Session, lead: Lead, conversion: Conversion, *, now: datetime) -> None:
    """The lead's deal closed: its opportunity moves to the won stage, with the value."""
    if not syncing(session, lead.tenant_id):
        return
    name = f"{lead.first_name} {lead.last_name}".strip() or lead.email or lead.phone or "Lead"
    dollars = conversion.value_cents / 100
    repository.enqueue(
        session,
        [
            _row(
                lead.tenant_id,
                pk(lead),
                "opportunity",
                f"ghl:opportunity:conversion:{pk(conversion)}",
                f"Opportunity won (${dollars:,.2f})",
                now,
                payload={"name": f"{name} (recovered deal)"[:200], "value": dollars},
            )
        ],
        rearm=False,
    )


def resync(session: Session, *, viewer: Viewer, lead_id: int, now: datetime) -> int:
    """The lead page's "Resync": upsert the contact and write the status and fields again;
    failed notes and opportunities get a fresh try. How many writes are queued."""
    from recovery_app.domain.leads.service import get_lead  # leads build on this module

    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    if not syncing(session, lead.tenant_id):
        raise Conflict("GoHighLevel sync is off for this office (Settings -> Office).")
    if not (lead.email or lead.phone):
        raise Conflict("This lead has no email or phone for GoHighLevel to know it by.")
    retried = repository.requeue_failed(session, lead_id=lead_id, now=now)
    repository.enqueue(
        session,
        [_state_row(lead.tenant_id, lead_id, kind, now) for kind in STATE_KINDS],
        rearm=True,
    )
    return retried + len(STATE_KINDS)


def sync_log(session: Session, *, viewer: Viewer, lead_id: int) -> tuple[bool, list[GhlWrite]]:
    """Whether the lead's office syncs with GoHighLevel, and the lead's write-backs, newest
    first (whoever may see the lead may see them)."""
    from recovery_app.domain.leads.service import get_lead

    lead = get_lead(session, viewer=viewer, lead_id=lead_id)
    return syncing(session, lead.tenant_id), repository.for_lead(session, lead_id=lead_id)
