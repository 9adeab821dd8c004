"""Email through SendGrid's v3 mail/send with the official SDK (host from SENDGRID_API_BASE_URL).

Every email carries our message id in `custom_args` (so events find it), a one-click
unsubscribe (List-Unsubscribe + List-Unsubscribe-Post, RFC 8058), the tenant's postal address in
the footer, and the ASM unsubscribe group when one is configured.
"""

import html
import socket
from urllib.error import URLError

from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Asm,
    Content,
    CustomArg,
    From,
    Header,
    Mail,
    Subject,
    To,
)

from recovery_app.messaging.channels.base import Outcome, Outgoing, SendResult
from recovery_app.settings import Settings


def footer_text(message: Outgoing) -> str:
    lines = ["", "--"]
    if message.footer_address:
        lines.append(message.footer_address)
    if message.unsubscribe_url:
        lines.append(f"Unsubscribe: {message.unsubscribe_url}")
    return "\n".join(lines)


def html_body(message: Outgoing) -> str:
    """The plain text as HTML: escaped (lead and AI text is never markup), paragraphs kept."""
    paragraphs = "".join(
        f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
        for p in message.body.split("\n\n")
        if p.strip()
    )
    footer = ""
    if message.footer_address:
        footer += f'<p style="color:#666;font-size:12px">{html.escape(message.footer_address)}</p>'
    if message.unsubscribe_url:
        url = html.escape(message.unsubscribe_url, quote=True)
        footer += f'<p style="font-size:12px"><a href="{url}">Unsubscribe</a></p>'
    return paragraphs + footer


class SendGridEmail:
    provider = "sendgrid"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = SendGridAPIClient(
            settings.sendgrid_api_key, host=settings.sendgrid_api_base_url
        )

    def build(self, message: Outgoing) -> Mail:
        mail = Mail(
            from_email=From(
                message.sender or self.settings.sendgrid_from_email, message.sender_name
            ),
            to_emails=To(message.to),
            subject=Subject(message.subject or ""),
            plain_text_content=Content("text/plain", message.body + footer_text(message)),
            html_content=Content("text/html", html_body(message)),
        )
        mail.add_custom_arg(CustomArg("message_id", str(message.message_id)))
        mail.add_custom_arg(CustomArg("tenant_id", str(message.tenant_id)))
        if message.unsubscribe_url:
            mail.add_header(Header("List-Unsubscribe", f"<{message.unsubscribe_url}>"))
            mail.add_header(Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        if self.settings.sendgrid_unsubscribe_group_id:
            mail.asm = Asm(self.settings.sendgrid_unsubscribe_group_id)
        return mail

    def send(self, message: Outgoing) -> SendResult:
        try:
            response = self.client.client.mail.send.post(
                request_body=self.build(message).get(),
                timeout=self.settings.provider_timeout_seconds,
            )
        except http_errors.HTTPError as exc:
            status = exc.status_code
            detail = (
                exc.body.decode("utf-8", "replace")
                if isinstance(exc.body, bytes)
                else str(exc.body)
            )[:500]
            if status == 429 or status >= 500:
                retry = exc.headers.get("Retry-After") if exc.headers else None
                return SendResult(
                    Outcome.TRANSIENT,
                    self.provider,
                    error_code=str(status),
                    error_message=detail,
                    retry_after_seconds=float(retry) if retry and retry.isdigit() else None,
                )
            return SendResult(
                Outcome.PERMANENT, self.provider, error_code=str(status), error_message=detail
            )
        except TimeoutError as exc:
            return SendResult(
                Outcome.UNKNOWN, self.provider, error_code="timeout", error_message=str(exc)[:500]
            )
        except URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                return SendResult(
                    Outcome.UNKNOWN,
                    self.provider,
                    error_code="timeout",
                    error_message=str(exc)[:500],
                )
            return SendResult(
                Outcome.TRANSIENT, self.provider, error_code="connect", error_message=str(exc)[:500]
            )
        message_id = response.headers.get("X-Message-Id") if response.headers else None
        return SendResult(Outcome.SENT, self.provider, provider_id=message_id)

    def reconcile(self, message: Outgoing) -> SendResult:
        # SendGrid offers no lookup by our id without the paid Email Activity API. Its event
        # webhook moves the message on when SendGrid took it; if nothing came in the
        # reconcile window, it did not, and the next attempt is safe.
        return SendResult(
            Outcome.TRANSIENT,
            self.provider,
            error_code="timeout",
            error_message="no SendGrid events",
        )
