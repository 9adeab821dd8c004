"""AI drafting with Anthropic, and the template path when AI is off, failing or not trusted.

A draft is written once per (campaign step, audience segment) with `{{variables}}` left in, kept
in `ai_drafts`, and rendered per lead: most messages of a campaign need no AI call at all. Every
AI text is checked before use (length, placeholders, links, opt-out wording, Fair Housing
phrases); anything that fails - a timeout, a 5xx, an open circuit, garbage - falls back to the
step's template, and the message records which path wrote it (`drafted_by`).
"""

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.db import insert_unless_taken
from recovery_app.domain.campaigns.rendering import FALLBACKS, render, variables_in
from recovery_app.messaging.segments import sms_segments
from recovery_app.models import AiDraft, Channel
from recovery_app.settings import Settings, get_settings

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "claude-haiku-4-5"
# US$ per million tokens (input, output); an unknown model is priced like the dearest one.
PRICES: dict[str, tuple[float, float]] = {
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-opus-4-1": (15.0, 75.0),
}
MAX_SMS_SEGMENTS = 2
FAIR_HOUSING_BLOCKLIST = (
    "no kids",
    "no children",
    "adults only",
    "perfect for young couples",
    "ideal for singles",
    "christian neighborhood",
    "exclusive neighborhood",
    "no section 8",
    "walking distance to church",
    "able-bodied",
    "no wheelchairs",
    "english speakers only",
    "family neighborhood",
)
URL = re.compile(r"https?://[^\s)>\]]+|www\.[^\s)>\]]+", re.IGNORECASE)
BRACKETED = re.compile(r"\[[A-Z][A-Za-z ]{1,30}\]|\{\{|\}\}|<[A-Z_]{3,}>")


@dataclass(frozen=True, slots=True)
class DraftRequest:
    tenant_id: int
    channel: Channel
    cache_key: str
    campaign_step_id: int | None
    situation: str
    goal: str
    template_subject: str | None
    template_body: str
    context: dict[str, str]
    require_opt_out: bool = True
    reuse: bool = True


@dataclass(frozen=True, slots=True)
class Draft:
    subject: str | None
    body: str
    drafted_by: str  # "ai" | "ai_cached" | "template"
    ai_draft_id: int | None
    note: str | None = None


def blocklist(settings: Settings | None = None) -> tuple[str, ...]:
    extra = (settings or get_settings()).fair_housing_blocklist
    return FAIR_HOUSING_BLOCKLIST + tuple(p.strip().lower() for p in extra.split(",") if p.strip())


def check_draft(
    channel: Channel,
    subject: str | None,
    body: str,
    *,
    require_opt_out: bool,
    settings: Settings | None = None,
) -> list[str]:
    """What is wrong with a text before it may go out (empty when nothing is)."""
    settings = settings or get_settings()
    problems: list[str] = []
    unknown = sorted({v for v in variables_in(f"{subject or ''} {body}") if v not in FALLBACKS})
    if unknown:
        problems.append("unknown placeholders " + ", ".join("{{" + v + "}}" for v in unknown))
    rendered = render(body, {})
    if BRACKETED.search(rendered) or BRACKETED.search(render(subject or "", {})):
        problems.append("unfilled placeholder left in the text")
    if not rendered.strip():
        problems.append("empty")
    ours = (urlsplit(settings.app_base_url).hostname or "").lower()
    for link in URL.findall(f"{subject or ''} {body}"):
        host = urlsplit(link if "://" in link else f"http://{link}").hostname or ""
        if host.lower() != ours:
            problems.append(f"link to {host or link} (only {ours} links are allowed)")
    lowered = f"{subject or ''} {body}".lower()
    problems.extend(
        f'Fair Housing: "{phrase}"'
        for phrase in blocklist(settings)
        if re.search(rf"\b{re.escape(phrase)}\b", lowered)
    )
    if channel == Channel.SMS:
        segments = sms_segments(rendered)
        if segments > MAX_SMS_SEGMENTS:
            problems.append(f"{segments} SMS segments (at most {MAX_SMS_SEGMENTS})")
        if require_opt_out and "stop" not in lowered:
            problems.append('no opt-out wording ("Reply STOP to opt out")')
    elif not (subject or "").strip():
        problems.append("an email needs a subject")
    return problems


class CircuitBreaker:
    """Opens after `threshold` failures within `window` seconds; while open nothing is tried;
    after `cooldown` one trial call decides (success closes it, failure opens it again)."""

    def __init__(
        self,
        threshold: int = 5,
        window: float = 60.0,
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.threshold, self.window, self.cooldown, self.clock = threshold, window, cooldown, clock
        self.failures: deque[float] = deque()
        self.opened_at: float | None = None
        self.trial = False
        self.lock = threading.Lock()

    def allow(self) -> bool:
        with self.lock:
            if self.opened_at is None:
                return True
            if self.clock() - self.opened_at >= self.cooldown and not self.trial:
                self.trial = True  # half-open: one call goes through
                return True
            return False

    def succeeded(self) -> None:
        with self.lock:
            self.failures.clear()
            self.opened_at, self.trial = None, False

    def failed(self) -> None:
        with self.lock:
            now = self.clock()
            if self.trial:
                self.opened_at, self.trial = now, False
                return
            self.failures.append(now)
            while self.failures and now - self.failures[0] > self.window:
                self.failures.popleft()
            if len(self.failures) >= self.threshold:
                self.opened_at = now

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


class AiUnavailable(Exception):
    """The AI call failed after its retries (transport, 429/5xx/529, timeout)."""


class Drafter:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 3,
        backoff: float = 0.5,
        max_wait: float = 4.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings or get_settings()
        self.breaker = CircuitBreaker(clock=clock)
        self.attempts, self.backoff, self.max_wait, self.sleep = attempts, backoff, max_wait, sleep
        self._client: Any = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.anthropic_api_key)

    @property
    def model(self) -> str:
        return self.settings.anthropic_model or DEFAULT_MODEL

    def client(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.Anthropic(
                api_key=self.settings.anthropic_api_key,
                base_url=self.settings.anthropic_base_url or None,
                timeout=min(60.0, self.settings.anthropic_timeout_seconds),
                max_retries=0,  # our own retries, which honour retry-after within a cap
            )
        return self._client

    def draft(self, session: Session, request: DraftRequest, *, now: datetime) -> Draft:
        if request.reuse:
            cached = _cached(session, request)
            if cached is not None:
                return cached
        if not self.enabled:
            return _template(request, "no ANTHROPIC_API_KEY")
        if not self.breaker.allow():
            return _template(request, "AI circuit open")
        try:
            text, usage = self._call(request)
        except AiUnavailable as exc:
            self.breaker.failed()
            logger.warning("AI drafting failed (%s); template used", exc)
            return _template(request, f"AI unavailable: {exc}")
        self.breaker.succeeded()
        parsed = parse_draft(text, request.channel)
        if parsed is None:
            return _template(request, "AI draft rejected: not the JSON asked for")
        subject, body = parsed
        problems = check_draft(
            request.channel,
            subject,
            body,
            require_opt_out=request.require_opt_out,
            settings=self.settings,
        )
        if problems:
            return _template(request, "AI draft rejected: " + "; ".join(problems)[:300])
        row = AiDraft(
            tenant_id=request.tenant_id,
            campaign_step_id=request.campaign_step_id,
            cache_key=request.cache_key[:200],
            channel=request.channel,
            subject=subject,
            body=body,
            model=self.model,
            input_tokens=usage[0],
            output_tokens=usage[1],
            cost_microdollars=cost_microdollars(self.model, *usage),
            uses=1,
            created_at=now,
        )
        stored = insert_unless_taken(session, row, unique=["tenant_id", "cache_key"])
        if stored is None:  # another worker drafted the same key a moment ago: use theirs
            cached = _cached(session, request)
            if cached is not None:
                return cached
            return _template(request, "AI draft lost a race and could not be read")
        return Draft(stored.subject, stored.body, "ai", stored.id)

    def _call(self, request: DraftRequest) -> tuple[str, tuple[int, int]]:
        import anthropic

        client = self.client()
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                response = client.messages.create(
                    model=self.model,
                    max_tokens=600,
                    system=SYSTEM_PROMPT,
                    messages=[{"role": "user", "content": user_prompt(request)}],
                )
            except anthropic.APIStatusError as exc:
                last = exc
                if exc.status_code != 429 and exc.status_code < 500:
                    raise AiUnavailable(f"HTTP {exc.status_code}") from exc
                wait = _retry_after(exc) or self.backoff * 2 ** (attempt - 1)
            except (anthropic.APITimeoutError, anthropic.APIConnectionError) as exc:
                last = exc
                wait = self.backoff * 2 ** (attempt - 1)
            else:
                text = "".join(
                    getattr(block, "text", "") for block in response.content if block.type == "text"
                )
                usage = (response.usage.input_tokens, response.usage.output_tokens)
                return text, usage
            if attempt < self.attempts:
                self.sleep(min(wait, self.max_wait))
        name = type(last).__name__ if last else "error"
        status = getattr(last, "status_code", None)
        raise AiUnavailable(f"HTTP {status}" if status else name)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


def cost_microdollars(model: str, input_tokens: int, output_tokens: int) -> int:
    price_in, price_out = PRICES.get(model, max(PRICES.values()))
    return round(input_tokens * price_in + output_tokens * price_out)


def _cached(session: Session, request: DraftRequest) -> Draft | None:
    row = session.execute(
        select(AiDraft).where(
            col(AiDraft.tenant_id) == request.tenant_id,
            col(AiDraft.cache_key) == request.cache_key[:200],
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    session.execute(
        update(AiDraft)
        .where(col(AiDraft.id) == row.id)
        .values(uses=col(AiDraft.uses) + 1)
        .execution_options(synchronize_session=False)
    )
    return Draft(row.subject, row.body, "ai_cached", row.id)


def _template(request: DraftRequest, note: str) -> Draft:
    return Draft(request.template_subject, request.template_body, "template", None, note)


SYSTEM_PROMPT = (
    "You write short follow-up messages for a real-estate or insurance office to people who "
    "asked about a home or a policy and then went quiet. Write like a helpful human agent: "
    "warm, brief, specific, no pressure, no emojis, no exclamation-mark spam. Never invent "
    "facts (prices, addresses, rates, availability). Never mention protected characteristics "
    "(family status, religion, race, disability, national origin, sex) or describe who a home "
    "suits. Use only these placeholders, exactly as written, for anything personal: "
    + ", ".join("{{" + name + "}}" for name in FALLBACKS)
    + ". Answer with JSON only: "
    '{"subject": "...", "body": "..."} (subject null for SMS).'
)


def user_prompt(request: DraftRequest) -> str:
    rules = [f"Channel: {request.channel}."]
    if request.channel == Channel.SMS:
        rules.append("At most 300 characters (two SMS segments), plain text.")
        if request.require_opt_out:
            rules.append('End with "Reply STOP to opt out."')
    else:
        rules.append("A subject under 70 characters and a body of 40 to 120 words.")
    context = "\n".join(f"- {key}: {value}" for key, value in request.context.items() if value)
    return (
        f"Situation: {request.situation}. Goal: get a {request.goal}.\n"
        f"Who we write to (a segment, not one person):\n{context}\n"
        f"The office's usual text for this step, for tone and content:\n"
        f"subject: {request.template_subject or '(none)'}\nbody: {request.template_body}\n"
        + " ".join(rules)
    )


def parse_draft(text: str, channel: Channel) -> tuple[str | None, str] | None:
    """The model's JSON (possibly in prose or a code fence) as (subject, body), or None."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("body"), str):
        return None
    subject = data.get("subject")
    subject = subject.strip() if isinstance(subject, str) and subject.strip() else None
    body = data["body"].strip()
    if not body:
        return None
    return (None if channel == Channel.SMS else subject), body


_drafter: Drafter | None = None
_drafter_lock = threading.Lock()


def get_drafter() -> Drafter:
    """The process's drafter: the circuit breaker's memory is per process."""
    global _drafter
    with _drafter_lock:
        if _drafter is None or _drafter.settings is not get_settings():
            _drafter = Drafter()
        return _drafter


def reset_drafter() -> None:
    global _drafter
    with _drafter_lock:
        _drafter = None
