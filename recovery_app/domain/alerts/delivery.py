"""Posting the Slack alert queue, and the "Send test message" of Settings.

The `slack_alerts` job claims due rows (committed as `sending`), posts them outside any
transaction, then records each answer:

- delivered: `sent`; the office's Slack shows it as the last delivery;
- Slack down, unreachable or rate limiting (429, honouring Retry-After): back to the queue
  with backoff (30 s doubling to 1 h, or Slack's own wait), for 24 h before it is `failed`;
- the URL refused for good (404 `no_service`, 403 `invalid_token`, 410 `channel_is_archived`
  ...): the destination needs attention with Slack's exact answer; its alerts wait, and
  nothing is posted to it again until the URL changes or a test message goes through;
- this one message refused (400 `invalid_blocks` ...): that row `failed`, the rest go on.

Each destination (the office's channel, an agent's own webhook) gets at most
`POSTS_PER_MINUTE` posts a minute; when more are due, the excess is folded into one summary
post that lists them, so a burst is a few posts, not hundreds, and nothing is dropped.
A run that dies after posting and before recording posts those rows again after
`CLAIM_LEASE` (Slack webhooks have no idempotency key): at least once, never silently lost.
"""

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.domain.accounts import integrations
from recovery_app.domain.accounts.permissions import require_manager
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.alerts import repository
from recovery_app.domain.alerts.config import SLACK, OfficeSlack, office_slack
from recovery_app.errors import Conflict
from recovery_app.integrations import http, slack
from recovery_app.models import SlackAlert, Tenant, User, pk
from recovery_app.settings import get_settings, is_production

POSTS_PER_MINUTE = 6
SUMMARY_LINES = 15
CLAIM_LEASE = timedelta(minutes=5)
GIVE_UP_AFTER = timedelta(hours=24)
BACKOFF_MIN, BACKOFF_MAX = 30.0, 3600.0
# While a destination needs attention its alerts are looked at again this often (no post is
# made unless it was fixed meanwhile).
ATTENTION_RECHECK = timedelta(minutes=10)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    base = min(BACKOFF_MAX, BACKOFF_MIN * 2 ** max(0, attempt - 1))
    return max(base * (0.75 + 0.5 * random.random()), retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class Destination:
    tenant_id: int
    user_id: int | None  # None: the office's channel
    url: str

    @property
    def public_only(self) -> bool:
        """A URL someone typed in Settings is posted to only at public addresses; the
        deployment's own SLACK_WEBHOOK_URL is the operator's, and development may post to
        a local server over http (slack.check_webhook_url allows it there)."""
        if self.url == get_settings().slack_webhook_url:
            return False
        parts = urlsplit(self.url)
        dev_loopback = parts.scheme == "http" and parts.hostname in slack.LOOPBACK_HOSTS
        return is_production() or not dev_loopback


@dataclass
class Post:
    """One POST to Slack: one alert, or a summary row standing for several."""

    destination: Destination
    alert_id: int
    payload: dict[str, Any]
    answer: slack.Answer | None = None  # None: not tried (an earlier post stopped the rest)


@dataclass
class Claimed:
    posts: list[Post] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"claimed": 0, "folded": 0, "skipped": 0, "waiting": 0}
    )


def _summary(rows: list[SlackAlert]) -> dict[str, Any]:
    lines = [
        f"• {slack.link(row.url, row.title) if row.url else slack.escape(row.title)}"
        for row in rows[:SUMMARY_LINES]
    ]
    if len(rows) > SUMMARY_LINES:
        lines.append(f"…and {len(rows) - SUMMARY_LINES} more (see the dashboard).")
    title = f":bell: {len(rows)} more alerts (folded to stay under Slack's rate limit)"
    return slack.message(title, lines, url=None)


def claim(session: Session, *, now: datetime) -> Claimed:
    """Take what is due, fold each destination's excess into a summary, mark it all
    `sending`; the caller commits before posting."""
    claimed = Claimed()
    groups: dict[tuple[int, int | None], list[SlackAlert]] = defaultdict(list)
    for row in repository.claim_due(session, now=now):
        groups[(row.tenant_id, row.user_id)].append(row)
    offices: dict[int, OfficeSlack] = {}
    for (tenant_id, user_id), rows in groups.items():
        if tenant_id not in offices:
            offices[tenant_id] = office_slack(session, tenant_id=tenant_id)
        office = offices[tenant_id]
        url, blocked = _destination(session, office, user_id)
        if url is None or not office.active:
            for row in rows:
                row.status, row.next_attempt_at = "skipped", None
                row.error = (
                    "The agent's Slack webhook was removed."
                    if office.active
                    else "Slack alerts are off for the office."
                )
            claimed.counts["skipped"] += len(rows)
            continue
        if blocked:
            for row in rows:  # waits for a person to fix the URL; no post, no attempt
                row.status, row.next_attempt_at = "queued", now + ATTENTION_RECHECK
            claimed.counts["waiting"] += len(rows)
            continue
        budget = POSTS_PER_MINUTE - repository.posts_since(
            session, tenant_id=tenant_id, user_id=user_id, since=now - timedelta(minutes=1)
        )
        if budget <= 0:
            for row in rows:
                row.status, row.next_attempt_at = "queued", now + timedelta(seconds=60)
            claimed.counts["waiting"] += len(rows)
            continue
        # Summaries are never folded again (a summary of summaries would hide alerts).
        rows.sort(key=lambda r: (r.kind != "summary", pk(r)))
        if len(rows) > budget:
            alone, folded = rows[: budget - 1], rows[budget - 1 :]
            summary = SlackAlert(
                tenant_id=tenant_id,
                user_id=user_id,
                kind="summary",
                dedupe_key=f"summary:{user_id or 'office'}:{pk(folded[0])}:{pk(folded[-1])}",
                title=f"{len(folded)} alerts folded into one post",
                payload=_summary(folded),
                created_at=now,
            )
            session.add(summary)
            session.flush()
            for row in folded:
                row.status, row.folded_into_id, row.next_attempt_at = "folded", summary.id, None
            claimed.counts["folded"] += len(folded)
            rows = [*alone, summary]
        destination = Destination(tenant_id, user_id, url)
        for row in rows:
            row.status, row.attempts = "sending", row.attempts + 1
            row.next_attempt_at = now + CLAIM_LEASE
            claimed.posts.append(Post(destination, pk(row), dict(row.payload)))
        claimed.counts["claimed"] += len(rows)
    return claimed


def _destination(
    session: Session, office: OfficeSlack, user_id: int | None
) -> tuple[str | None, bool]:
    """(URL, needs attention) of the office's channel or of an agent's webhook."""
    if user_id is None:
        return office.url, office.attention
    agent = session.get(User, user_id)
    if agent is None or not agent.active or not agent.slack_webhook_url:
        return None, False
    return agent.slack_webhook_url, agent.slack_webhook_error is not None


async def post_all(posts: list[Post], *, outbound: http.Outbound | None = None) -> None:
    """Post everything; destinations in parallel, each destination's posts in order. A
    destination that refuses the URL or asks us to wait stops its remaining posts."""
    by_destination: dict[Destination, list[Post]] = defaultdict(list)
    for post in posts:
        by_destination[post.destination].append(post)

    async def one_destination(client: http.Outbound, queue: list[Post]) -> None:
        for post in queue:
            post.answer = await slack.post(
                client,
                post.destination.url,
                post.payload,
                public_only=post.destination.public_only,
            )
            if post.answer.verdict in (slack.Verdict.ATTENTION, slack.Verdict.RETRY):
                return

    client = outbound or http.Outbound(SLACK, timeout=get_settings().provider_timeout_seconds)
    async with client:
        await asyncio.gather(*(one_destination(client, q) for q in by_destination.values()))


def record(session: Session, posts: list[Post], *, now: datetime) -> dict[str, int]:
    """Apply Slack's answers to the rows and to the destinations' health."""
    counts = {"sent": 0, "retrying": 0, "rejected": 0, "needs_attention": 0, "failed": 0}
    for post in posts:
        row = session.get(SlackAlert, post.alert_id)
        assert row is not None
        answer = post.answer
        destination = post.destination
        if answer is None:  # not tried: back in line, this was no attempt
            row.status, row.attempts, row.next_attempt_at = "queued", row.attempts - 1, now
            continue
        if answer.verdict == slack.Verdict.DELIVERED:
            row.status, row.sent_at, row.next_attempt_at, row.error = "sent", now, None, None
            counts["sent"] += 1
            _health(session, destination, now=now, error=None)
            continue
        row.error = answer.detail[:500]
        if answer.verdict == slack.Verdict.ATTENTION:
            row.status, row.attempts = "queued", row.attempts - 1
            row.next_attempt_at = now + ATTENTION_RECHECK
            counts["needs_attention"] += 1
            _health(session, destination, now=now, error=answer.detail, refused=True)
        elif answer.verdict == slack.Verdict.REJECTED:
            row.status, row.next_attempt_at = "failed", None
            counts["rejected"] += 1
            _health(session, destination, now=now, error=answer.detail)
        elif row.created_at <= now - GIVE_UP_AFTER:
            row.status, row.next_attempt_at = "failed", None
            row.error = f"Gave up after 24 h: {answer.detail}"[:500]
            counts["failed"] += 1
            _health(session, destination, now=now, error=answer.detail)
        else:
            row.status = "queued"
            row.next_attempt_at = now + timedelta(
                seconds=backoff_seconds(row.attempts, answer.retry_after)
            )
            counts["retrying"] += 1
            _health(session, destination, now=now, error=answer.detail)
    # A summary that went out delivered what it folded.
    delivered = [
        p.alert_id for p in posts if p.answer and p.answer.verdict == slack.Verdict.DELIVERED
    ]
    if delivered:
        session.execute(
            update(SlackAlert)
            .where(col(SlackAlert.folded_into_id).in_(delivered))
            .values(sent_at=now)
            .execution_options(synchronize_session=False)
        )
    return counts


def _health(
    session: Session,
    destination: Destination,
    *,
    now: datetime,
    error: str | None,
    refused: bool = False,
) -> None:
    if destination.user_id is not None:
        agent = session.get(User, destination.user_id)
        if agent is not None and agent.slack_webhook_url == destination.url:
            if error is None:
                agent.slack_webhook_error = None
            elif refused:
                agent.slack_webhook_error = error[:500]
        return
    row = integrations.integration_row(
        session, tenant_id=destination.tenant_id, integration=SLACK, create=True
    )
    assert row is not None
    if error is None:
        integrations.record_ok(row, now=now)
    else:
        integrations.record_error(row, error, now=now, refused=destination.url if refused else None)


# --- Settings: "Send test message" ------------------------------------------------------------


def test_destination(session: Session, *, viewer: Viewer) -> Destination:
    """Where a manager's test message goes: the office's current URL."""
    require_manager(viewer, "test the Slack connection")
    integrations.refuse_demo_calls(session, viewer.tenant_id)
    office = office_slack(session, tenant_id=viewer.tenant_id)
    if office.url is None:
        raise Conflict("No Slack webhook URL yet: paste one and save, then test.")
    return Destination(viewer.tenant_id, None, office.url)


def test_payload(session: Session, tenant_id: int, viewer: Viewer) -> dict[str, Any]:
    tenant = session.get(Tenant, tenant_id)
    office = tenant.name if tenant else "the office"
    who = viewer.name or viewer.email or "a manager"
    return slack.message(
        f":wave: Test from the Lead Recovery engine for {office}",
        [f"Sent by {slack.escape(who)} from Settings → Office. Alerts will look like this."],
        url=None,
    )


async def post_test(destination: Destination, payload: dict[str, Any]) -> slack.Answer:
    """One real post, no retries beyond the client's own (a person is waiting)."""
    client = http.Outbound(
        SLACK,
        timeout=get_settings().provider_timeout_seconds,
        policy=http.RetryPolicy(attempts=1),
    )
    async with client:
        return await slack.post(
            client, destination.url, payload, public_only=destination.public_only
        )


def record_test(
    session: Session,
    *,
    viewer: Viewer,
    destination: Destination,
    answer: slack.Answer,
    now: datetime,
) -> None:
    """A delivered test clears "needs attention" and lets held alerts go; a refusal sets it."""
    require_manager(viewer, "test the Slack connection")
    delivered = answer.verdict == slack.Verdict.DELIVERED
    _health(
        session,
        destination,
        now=now,
        error=None if delivered else answer.detail,
        refused=answer.verdict == slack.Verdict.ATTENTION,
    )
    if delivered:
        repository.release_held_alerts(session, tenant_id=viewer.tenant_id, user_id=None)
