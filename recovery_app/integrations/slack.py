"""Slack incoming webhooks: the wire format and what Slack's answers mean.

A webhook URL is a secret (whoever has it can post to the channel), so it is stored, masked
when shown, and never logged. Slack answers `200 ok`, or a status with a short code in a plain
text body; those codes decide whether to retry, to drop one bad message, or to stop posting
to the URL until a person fixes it ("needs attention").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from recovery_app.integrations.http import NotPublic, Outbound, OutboundError, ensure_public

MAX_URL = 500
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}

# Answers that mean the URL itself is broken: posting again cannot help until someone changes
# the webhook (or the channel) - the integration needs attention, no retries.
BROKEN_URL = {
    "no_service": "the webhook was removed or disabled (or its Slack app uninstalled)",
    "no_service_id": "the URL is not a complete incoming-webhook address",
    "invalid_token": "the webhook's token is invalid or was revoked",
    "no_team": "the Slack workspace of this webhook no longer exists",
    "invalid_team": "the Slack workspace of this webhook no longer exists",
    "team_disabled": "the Slack workspace of this webhook is disabled",
    "channel_not_found": "the webhook's channel was deleted",
    "channel_is_archived": "the webhook's channel is archived",
    "action_prohibited": "a Slack admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
}
BROKEN_STATUSES = {401, 403, 404, 410}


class Verdict(StrEnum):
    DELIVERED = "delivered"
    ATTENTION = "needs_attention"  # the URL is broken: stop posting to it
    REJECTED = "rejected"  # this message was refused (bad payload): drop it, keep the URL
    RETRY = "retry"  # down, rate limited or unreachable: try again later


@dataclass(frozen=True, slots=True)
class Answer:
    verdict: Verdict
    status: int | None
    body: str
    detail: str  # what a person reads in Settings: Slack's own words first
    retry_after: float | None = None


def check_webhook_url(value: str, *, allow_loopback_http: bool = False) -> str | None:
    """A webhook URL as stored, None for an empty one; ValueError saying what is wrong.
    https only (any host: Slack, or a Slack-compatible server such as Mattermost); plain http
    only to this machine and only where allowed (development and tests)."""
    url = value.strip()
    if not url:
        return None
    if len(url) > MAX_URL:
        raise ValueError(f"at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ValueError("not a web address") from None
    loopback = parts.scheme == "http" and host in LOOPBACK_HOSTS and allow_loopback_http
    if not loopback and _private_literal(host):
        raise ValueError("a public internet address (not a private, loopback or local one)")
    if (
        (not (parts.scheme == "https" and "." in host) and not loopback)
        or parts.username is not None
        or parts.password is not None
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
    ):
        raise ValueError(
            "an https:// incoming-webhook address such as https://hooks.slack.com/services/..."
        )
    return url


def _private_literal(host: str) -> bool:
    """An IP address written as the host that is not a public one (names are checked when
    posting, as they resolve then)."""
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_global
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def mask(url: str | None) -> str:
    """Enough of a webhook URL to recognise it, not enough to use it."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…{url[-4:]}"


def escape(text: str) -> str:
    """Untrusted text (lead names, campaign names) inside mrkdwn: Slack reads `<...>` as links
    and mentions (`<!channel>`), so the three control characters are escaped, as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    return f"<{url}|{escape(label).replace('|', '¦')}>"


def message(title: str, lines: list[str], *, url: str | None, button: str = "Open lead") -> dict:
    """A Block Kit message: a bold title (plain text, escaped here), mrkdwn `lines` (escape
    untrusted parts before), a button to `url`; `text` is what notifications show."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "\n".join([f"*{escape(title)}*", *lines])[:2900],
            },
        }
    ]
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": button}, "url": url}
                ],
            }
        )
    # The fallback is mrkdwn too (notifications read it): escaped like the blocks.
    fallback = escape(title) + (f" - {url}" if url else "")
    return {"text": fallback[:3000], "blocks": blocks}


async def post(outbound: Outbound, url: str, payload: dict, *, public_only: bool = False) -> Answer:
    """POST one message; never raises for Slack's or the network's failures. `public_only`:
    a URL a user typed, posted to only when it resolves to public addresses."""
    try:
        if public_only:
            await ensure_public(outbound.integration, url)
        response = await outbound.request("POST", url, json=payload)
    except NotPublic as exc:
        return Answer(Verdict.ATTENTION, None, "", exc.reason)
    except OutboundError as exc:
        detail = exc.reason if exc.status is None else f"Slack answered {exc.reason}"
        return Answer(Verdict.RETRY, exc.status, exc.body, detail, exc.retry_after)
    body = response.text.strip()[:500]
    status = response.status_code
    if 200 <= status < 300:
        return Answer(Verdict.DELIVERED, status, body, f"Slack answered {status} {body}".strip())
    said = f"Slack answered {status} {body}".strip()
    if body in BROKEN_URL:
        return Answer(Verdict.ATTENTION, status, body, f"{said}: {BROKEN_URL[body]}")
    if status in BROKEN_STATUSES or 300 <= status < 400:
        return Answer(Verdict.ATTENTION, status, body, said)
    return Answer(Verdict.REJECTED, status, body, said)
