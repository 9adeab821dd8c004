"""Making one office's claimed write-backs at GoHighLevel, outside any transaction.

Each write ends in an `Outcome`; nothing here touches the database. A write that made
something at GoHighLevel without reading the answer (a note or an opportunity whose POST timed
out) looks for it before trying again: a note by the marker in its body, an opportunity by the
contact and pipeline, so a retried write never makes a second one. Calls keep under the
location's burst limit through the shared pacer (Redis when configured, so every worker and
instance counts against one budget).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from recovery_app.domain.crm.config import GHL, SCORE_FIELD, TEMPERATURE_FIELD, status_tag
from recovery_app.integrations import ghl, http
from recovery_app.messaging.pacing import shared_pacer
from recovery_app.settings import get_settings

# Keep 5 % under the documented burst, so clock skew between workers never tips it over.
HEADROOM = 0.95
PACE_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class LeadSnapshot:
    lead_id: int
    contact_id: str | None
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    source: str
    timezone: str | None
    status: str
    score: int
    temperature: str


@dataclass(frozen=True, slots=True)
class Write:
    write_id: int
    kind: str
    version: int
    attempts: int
    ghl_id: str | None
    payload: dict[str, Any]
    lead: LeadSnapshot


@dataclass
class Office:
    tenant_id: int
    base_url: str
    token: str
    location_id: str
    won_stage: str
    field_ids: dict[str, str]
    writes: list[Write] = field(default_factory=list)


@dataclass
class Outcome:
    verdict: str  # done | failed | retry | attention
    result: str
    ghl_id: str | None = None
    retry_after: float | None = None
    status: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # merged into the row's payload
    forget_contact: bool = False  # GoHighLevel has no such contact any more


@dataclass
class OfficeRun:
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    contacts: dict[int, str] = field(default_factory=dict)  # lead id -> contact id learned
    field_ids: dict[str, str] | None = None  # learned (or forgotten: {}) custom field ids
    limits: dict[str, int] = field(default_factory=dict)
    calls: int = 0


def pace_for(location_id: str) -> Callable[[], Awaitable[None]]:
    """Wait for the location's next request slot (at most `limit` per `window` seconds)."""
    settings = get_settings()
    rate = settings.ghl_burst_limit / settings.ghl_burst_window_seconds * HEADROOM
    pacer = shared_pacer()

    async def pace() -> None:
        while True:
            slot = pacer.take(f"ghl:{location_id}", per_second=rate, max_wait=PACE_WAIT)
            if slot.taken:
                if slot.wait_seconds > 0:
                    await asyncio.sleep(slot.wait_seconds)
                return
            await asyncio.sleep(max(0.01, slot.wait_seconds - PACE_WAIT))

    return pace


def outbound(location_id: str, *, attempts: int | None = None) -> http.Outbound:
    policy = http.RetryPolicy(attempts=attempts) if attempts else http.RetryPolicy()
    return http.Outbound(
        GHL,
        timeout=get_settings().provider_timeout_seconds,
        policy=policy,
        pace=pace_for(location_id),
    )


def _failed(answer: ghl.Answer) -> Outcome:
    verdict = {
        ghl.Verdict.ATTENTION: "attention",
        ghl.Verdict.REJECTED: "failed",
        ghl.Verdict.NOT_FOUND: "failed",
        ghl.Verdict.RETRY: "retry",
    }[answer.verdict]
    return Outcome(
        verdict,
        answer.detail,
        retry_after=answer.retry_after,
        status=answer.status,
        forget_contact=answer.verdict == ghl.Verdict.NOT_FOUND,
    )


def _contact_body(lead: LeadSnapshot) -> dict[str, Any]:
    body: dict[str, Any] = {
        "firstName": lead.first_name or None,
        "lastName": lead.last_name or None,
        "email": lead.email,
        "phone": lead.phone,
        "source": "Lead Recovery engine" if lead.source != "ghl" else None,
        "timezone": lead.timezone,
    }
    return {k: v for k, v in body.items() if v}


class Writer:
    """One office's writes, in order, over one connection."""

    def __init__(self, conn: ghl.Connection, office: Office, run: OfficeRun) -> None:
        self.conn, self.office, self.run = conn, office, run
        self._stage: tuple[str, str] | None = None

    async def contact_id(self, lead: LeadSnapshot) -> tuple[str | None, ghl.Answer | None]:
        """The lead's contact at GoHighLevel: known, or found or made by an upsert."""
        known = self.run.contacts.get(lead.lead_id) or lead.contact_id
        if known:
            return known, None
        return await self.upsert(lead)

    async def upsert(self, lead: LeadSnapshot) -> tuple[str | None, ghl.Answer | None]:
        if not (lead.email or lead.phone):
            return None, ghl.Answer(
                ghl.Verdict.REJECTED,
                None,
                "The lead has no email or phone for GoHighLevel to know it by.",
            )
        answer = await ghl.upsert_contact(self.conn, _contact_body(lead))
        found = ghl.contact_id_of(answer) if answer.ok else None
        if found is None:
            return None, answer if not answer.ok else ghl.Answer(
                ghl.Verdict.RETRY, answer.status, f"{answer.detail} without a contact id"
            )
        self.run.contacts[lead.lead_id] = found
        return found, answer

    async def write(self, write: Write) -> Outcome:
        if write.kind == "contact":
            found, answer = await self.upsert(write.lead)
            if found is None:
                assert answer is not None
                return _failed(answer)
            made = "created" if answer and answer.data.get("new") else "updated"
            return Outcome("done", f"{answer.detail if answer else ''}: contact {made}", found)
        contact, failure = await self.contact_id(write.lead)
        if contact is None:
            assert failure is not None
            return _failed(failure)
        if write.kind == "status":
            return await self.status(write, contact)
        if write.kind == "fields":
            return await self.fields(write, contact)
        if write.kind == "note":
            return await self.note(write, contact)
        return await self.opportunity(write, contact)

    async def status(self, write: Write, contact: str) -> Outcome:
        tag, before = status_tag(write.lead.status), write.payload.get("written_tag")
        answer = await ghl.add_tags(self.conn, contact, [tag])
        if not answer.ok:
            return _failed(answer)
        if before and before != tag:
            removed = await ghl.remove_tags(self.conn, contact, [before])
            if not removed.ok and removed.verdict != ghl.Verdict.NOT_FOUND:
                return _failed(removed)
        return Outcome("done", f"{answer.detail}: tag {tag}", payload={"written_tag": tag})

    async def _field_ids(self) -> tuple[dict[str, str] | None, ghl.Answer | None]:
        ids = self.run.field_ids if self.run.field_ids is not None else self.office.field_ids
        if ids.get("score") and ids.get("temperature"):
            return ids, None
        listed = await ghl.custom_fields(self.conn)
        if not listed.ok:
            return None, listed
        found: dict[str, str] = {}
        for name, (key, label, data_type) in (
            ("score", SCORE_FIELD),
            ("temperature", TEMPERATURE_FIELD),
        ):
            existing = ghl.field_id(listed, key, label)
            if existing is None:
                made = await ghl.create_custom_field(self.conn, label, data_type)
                made_field = made.data.get("customField") if made.ok else None
                if not isinstance(made_field, dict) or not made_field.get("id"):
                    # An ambiguous create is found by its name on the next try.
                    return None, made if not made.ok else ghl.Answer(
                        ghl.Verdict.RETRY, made.status, f"{made.detail} without a field id"
                    )
                existing = str(made_field["id"])
            found[name] = existing
        self.run.field_ids = found
        return found, None

    async def fields(self, write: Write, contact: str) -> Outcome:
        lead = write.lead
        wanted = {"score": lead.score, "temperature": lead.temperature}
        if write.payload.get("written") == wanted and write.payload.get("contact") == contact:
            return Outcome("done", "Unchanged since the last write: nothing to send")
        ids, failure = await self._field_ids()
        if ids is None:
            assert failure is not None
            return _failed(failure)
        answer = await ghl.set_custom_fields(
            self.conn,
            contact,
            [
                {"id": ids["score"], "field_value": lead.score},
                {"id": ids["temperature"], "field_value": lead.temperature},
            ],
        )
        if answer.verdict == ghl.Verdict.REJECTED:
            self.run.field_ids = {}  # a field deleted at GoHighLevel: look them up again
            return Outcome("retry", answer.detail, status=answer.status)
        if not answer.ok:
            return _failed(answer)
        return Outcome(
            "done",
            f"{answer.detail}: score {lead.score}, {lead.temperature}",
            payload={"written": wanted, "contact": contact},
        )

    async def _note_already(self, contact: str, marker: str) -> str | None:
        listed = await ghl.notes(self.conn, contact)
        return ghl.note_with(listed, marker) if listed.ok else None

    async def note(self, write: Write, contact: str) -> Outcome:
        marker = str(write.payload.get("marker") or "")
        if write.ghl_id:
            return Outcome("done", f"Note {write.ghl_id} was made before", write.ghl_id)
        if write.attempts > 1 and (found := await self._note_already(contact, marker)):
            return Outcome("done", f"Found note {found} from an earlier try", found)
        answer = await ghl.create_note(self.conn, contact, str(write.payload.get("body") or ""))
        note = answer.data.get("note") if answer.ok else None
        if isinstance(note, dict) and note.get("id"):
            return Outcome("done", f"{answer.detail}: note {note['id']}", str(note["id"])[:64])
        if answer.ambiguous and (found := await self._note_already(contact, marker)):
            return Outcome("done", f"{answer.detail}, but note {found} was made", found)
        return _failed(answer)

    async def _won_stage(self) -> tuple[tuple[str, str] | None, ghl.Answer | None]:
        if self._stage is not None:
            return self._stage, None
        if "/" in self.office.won_stage:
            pipeline, stage = self.office.won_stage.split("/", 1)
            self._stage = (pipeline, stage)
            return self._stage, None
        listed = await ghl.pipelines(self.conn)
        if not listed.ok:
            return None, listed
        stages = ghl.stages_of(listed)
        if not stages:
            return None, ghl.Answer(
                ghl.Verdict.REJECTED, listed.status, "The location has no pipeline to put it in."
            )
        first = [s for s in stages if s["pipeline_id"] == stages[0]["pipeline_id"]]
        won = next((s for s in first if "won" in s["stage"].lower()), first[-1])
        self._stage = (won["pipeline_id"], won["stage_id"])
        return self._stage, None

    async def opportunity(self, write: Write, contact: str) -> Outcome:
        stage, failure = await self._won_stage()
        if stage is None:
            assert failure is not None
            return _failed(failure)
        pipeline_id, stage_id = stage
        body = {
            "pipelineStageId": stage_id,
            "status": "won",
            "monetaryValue": write.payload.get("value") or 0,
        }
        found = await ghl.opportunities_of(self.conn, contact, pipeline_id)
        if not found.ok:
            return _failed(found)
        existing = [o for o in found.data.get("opportunities") or [] if isinstance(o, dict)]
        if existing:
            target = str(existing[0].get("id") or "")
            answer = await ghl.update_opportunity(self.conn, target, body)
            if not answer.ok:
                return _failed(answer)
            return Outcome("done", f"{answer.detail}: opportunity {target} won", target[:64])
        answer = await ghl.create_opportunity(
            self.conn,
            body
            | {
                "pipelineId": pipeline_id,
                "name": write.payload.get("name") or "Recovered deal",
                "contactId": contact,
            },
        )
        made = answer.data.get("opportunity") if answer.ok else None
        if isinstance(made, dict) and made.get("id"):
            return Outcome("done", f"{answer.detail}: opportunity {made['id']}", str(made["id"]))
        return _failed(answer)  # an ambiguous create is found by the search on the next try


async def write_office(office: Office, *, deadline: float) -> OfficeRun:
    """Make the office's writes in order until they are done, the token is refused, GoHighLevel
    asks us to wait, or the run's time is up (the rest stay queued, untried)."""
    run = OfficeRun()
    async with outbound(office.location_id) as client:
        conn = ghl.Connection(client, office.base_url, office.token, office.location_id)
        writer = Writer(conn, office, run)
        for write in office.writes:
            if time.monotonic() > deadline:
                break
            outcome = await writer.write(write)
            run.outcomes[write.write_id] = outcome
            if outcome.verdict == "attention" or (
                outcome.verdict == "retry" and (outcome.status == 429 or outcome.status is None)
            ):
                break  # no storm: the rest wait for the token, the pause or the outage
        run.limits, run.calls = dict(conn.limits), conn.calls
    return run


async def write_all(offices: list[Office], *, budget: float) -> dict[int, OfficeRun]:
    """Every office at once (each at its own location's pace)."""
    deadline = time.monotonic() + budget
    runs = await asyncio.gather(*(write_office(o, deadline=deadline) for o in offices))
    return {office.tenant_id: run for office, run in zip(offices, runs, strict=True)}
