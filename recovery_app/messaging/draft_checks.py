"""What a drafted text must pass before it may go out - length, placeholders, links, opt-out
wording, Fair Housing phrases - and how the model's answer is read. The approval queue checks
an agent's edit with the same rules as the AI's text."""

import json
import re
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from recovery_app.domain.campaigns.rendering import FALLBACKS, render, variables_in
from recovery_app.messaging.segments import sms_segments
from recovery_app.models import Channel
from recovery_app.settings import Settings, get_settings

MAX_SMS_SEGMENTS = 2
MAX_SUBJECT = 150
# Phrases that state or imply a preference about who may live somewhere (Fair Housing Act);
# FAIR_HOUSING_BLOCKLIST adds local ones. Matched case-insensitively on word boundaries.
FAIR_HOUSING_BLOCKLIST = (
    "no kids",
    "no children",
    "adults only",
    "perfect for young couples",
    "ideal for singles",
    "perfect for singles",
    "empty nesters",
    "christian neighborhood",
    "christian home",
    "exclusive neighborhood",
    "no section 8",
    "walking distance to church",
    "able-bodied",
    "no wheelchairs",
    "english speakers only",
)
# Links with a scheme or www., and bare domains with a common TLD ("bit.ly/x", "homes.com").
LINK = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    r"|(?<![@\w.-])(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|us|info|biz|ly|me|app|link|homes|realty)"
    r"\b[^\s<>\"']*",
    re.IGNORECASE,
)
# What a missed placeholder looks like once rendered: "{{ Name }}", "{name}", "[Name]", "<NAME>".
UNFILLED = re.compile(r"\{\{|\}\}|\{[A-Za-z_ ]+\}|\[[A-Za-z][^\[\]\n]{0,30}\]|<[A-Z_ ]{3,}>")
HTML_TAG = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>")
# "Reply STOP", "Text STOP to ..." or "reply stop": a keyword Twilio acts on, not "stop by".
OPT_OUT = re.compile(r"\bSTOP\b|\b(?i:reply|text|send)\s+[\"'“]?(?i:stop)\b")


def allowed_hosts_of(settings: Settings) -> frozenset[str]:
    """The only hosts a drafted message may link to: APP_BASE_URL's."""
    host = urlsplit(settings.app_base_url).hostname
    return frozenset({host.lower()} if host else ())


def blocklist_of(settings: Settings) -> tuple[str, ...]:
    """The built-in Fair Housing phrases plus FAIR_HOUSING_BLOCKLIST's."""
    extra = (p.strip().lower() for p in settings.fair_housing_blocklist.split(","))
    return FAIR_HOUSING_BLOCKLIST + tuple(p for p in extra if p)


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    # Spaces and hyphens are interchangeable ("able bodied"); a phrase ending in punctuation
    # still needs its own boundary, hence lookarounds instead of \b.
    words = [re.escape(word) for word in re.split(r"[\s-]+", phrase.strip()) if word]
    return re.compile(r"(?<!\w)" + r"[\s-]+".join(words) + r"(?!\w)", re.IGNORECASE)


def fair_housing_hits(text: str, blocklist: Iterable[str] | None = None) -> list[str]:
    """The blocklisted phrases `text` contains (default: the configured list)."""
    phrases = blocklist_of(get_settings()) if blocklist is None else blocklist
    return [p for p in phrases if p.strip() and _phrase_pattern(p).search(text)]


def check_draft(
    channel: Channel,
    subject: str | None,
    body: str,
    *,
    require_opt_out: bool,
    allowed_hosts: Collection[str] | None = None,
    blocklist: Iterable[str] | None = None,
) -> list[str]:
    """What is wrong with a text before it may go out (empty when nothing is). Hosts and
    blocklist default to the configured ones (APP_BASE_URL, FAIR_HOUSING_BLOCKLIST)."""
    if allowed_hosts is None or blocklist is None:
        settings = get_settings()
        allowed_hosts = allowed_hosts_of(settings) if allowed_hosts is None else allowed_hosts
        blocklist = blocklist_of(settings) if blocklist is None else blocklist
    hosts = {host.lower() for host in allowed_hosts}
    subject = (subject or "").strip() if channel == Channel.EMAIL else ""
    raw = f"{subject}\n{body}"
    rendered_body = render(body, {})
    rendered = f"{render(subject, {})}\n{rendered_body}"
    problems: list[str] = []
    if not rendered_body.strip():
        problems.append("empty body")
    unknown = sorted({name for name in variables_in(raw) if name not in FALLBACKS})
    if unknown:
        problems.append("unknown placeholders " + ", ".join("{{" + v + "}}" for v in unknown))
    leftover = UNFILLED.search(rendered)
    if leftover:
        problems.append(f"unfilled placeholder {leftover.group(0)!r}")
    if HTML_TAG.search(rendered):
        problems.append("HTML markup (messages are plain text)")
    for link in LINK.findall(raw):
        host = (urlsplit(link if "://" in link else f"http://{link}").hostname or link).lower()
        if host not in hosts:
            allowed = ", ".join(sorted(hosts)) or "none"
            problems.append(f"link to {host} (allowed: {allowed})")
    problems.extend(
        f'Fair Housing phrase "{phrase}"' for phrase in fair_housing_hits(raw, blocklist)
    )
    if channel == Channel.SMS:
        segments = sms_segments(rendered_body)
        if segments > MAX_SMS_SEGMENTS:
            problems.append(f"{segments} SMS segments (at most {MAX_SMS_SEGMENTS})")
        if require_opt_out and not OPT_OUT.search(body):
            problems.append('no opt-out wording ("Reply STOP to opt out")')
    elif not subject:
        problems.append("an email needs a subject")
    elif len(subject) > MAX_SUBJECT:
        problems.append(f"subject over {MAX_SUBJECT} characters")
    return problems


def parse_draft(text: str, channel: Channel) -> tuple[str | None, str] | None:
    """The model's JSON object (alone, in prose or in a code fence) as (subject, body), or None
    when there is none with a non-empty string body."""
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            data, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("body"), str):
            continue
        body = data["body"].strip()
        if not body:
            return None
        subject = data.get("subject")
        subject = subject.strip() if isinstance(subject, str) and subject.strip() else None
        return (None if channel == Channel.SMS else subject), body
    return None
