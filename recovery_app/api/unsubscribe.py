"""One-click email unsubscribe (RFC 8058): GET shows a confirmation page, POST unsubscribes at
once (mail clients post `List-Unsubscribe=One-Click` from their own button, cross-site)."""

import html
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from recovery_app.db import session_scope
from recovery_app.domain.leads import timeline
from recovery_app.messaging.unsubscribe import read_token
from recovery_app.models import Channel, Lead, Tenant

router = APIRouter(include_in_schema=False)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #0d9488;background:#0d9488;color:#fff}}</style>
</head><body><h1>{title}</h1>{content}</body></html>"""


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), content=content), status_code=status)


def _mask(email: str | None) -> str:
    if not email or "@" not in email:
        return "your address"
    name, domain = email.split("@", 1)
    return f"{name[:1]}***@{domain}"


def _lookup(token: str) -> tuple[Lead, Tenant] | None:
    ids = read_token(token)
    if ids is None:
        return None
    tenant_id, lead_id = ids
    with session_scope() as session:
        lead, tenant = session.get(Lead, lead_id), session.get(Tenant, tenant_id)
        if lead is None or tenant is None or lead.tenant_id != tenant.id:
            return None
        session.expunge_all()
        return lead, tenant


INVALID = (
    "Link not valid",
    "<p>This unsubscribe link is not valid. Reply to the email you received and "
    "ask to be removed, and we will do it.</p>",
)


@router.get("/unsubscribe/{token}")
def confirm_page(token: str) -> HTMLResponse:
    found = _lookup(token)
    if found is None:
        return _page(*INVALID, status=404)
    lead, tenant = found
    who, sender = html.escape(_mask(lead.email)), html.escape(tenant.name)
    if lead.opted_out_email:
        return _page("You're unsubscribed", f"<p>{who} no longer gets email from {sender}.</p>")
    return _page(
        "Unsubscribe?",
        f"<p>Stop all email from {sender} to {who}?</p>"
        f'<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@router.post("/unsubscribe/{token}")
def unsubscribe(token: str) -> HTMLResponse:
    ids = read_token(token)
    if ids is None:
        return _page(*INVALID, status=404)
    tenant_id, lead_id = ids
    with session_scope() as session:
        lead, tenant = session.get(Lead, lead_id), session.get(Tenant, tenant_id)
        if lead is None or tenant is None or lead.tenant_id != tenant.id:
            return _page(*INVALID, status=404)
        timeline.opt_out(
            session,
            lead,
            Channel.EMAIL,
            reason="Unsubscribe link",
            now=datetime.now(UTC),
            actor_label="unsubscribe-link",
        )
        who, sender = html.escape(_mask(lead.email)), html.escape(tenant.name)
    return _page("You're unsubscribed", f"<p>{who} will not get any more email from {sender}.</p>")
