"""The built-in template library for common recovery situations (tenant NULL, is_builtin).

Every SMS fits in two segments even with long names filled in, and the first SMS of a
conversation carries opt-out language.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from recovery_app.models import Channel, Template


@dataclass(frozen=True, slots=True)
class BuiltinTemplate:
    situation: str
    channel: Channel
    name: str
    body: str
    subject: str | None = None


OPT_OUT_SMS = "Reply STOP to opt out."

BUILTIN_TEMPLATES: tuple[BuiltinTemplate, ...] = (
    BuiltinTemplate(
        "new_web_lead",
        Channel.SMS,
        "New web lead: instant reply",
        "Hi {{first_name}}, this is {{agent_first_name}} with {{company_name}}. Thanks for asking "
        "about {{property_interest}}! When is a good time for a quick call? " + OPT_OUT_SMS,
    ),
    BuiltinTemplate(
        "new_web_lead",
        Channel.EMAIL,
        "New web lead: welcome email",
        "Hi {{first_name}},\n\nThanks for reaching out about {{property_interest}}. I'm "
        "{{agent_name}} and I'll be your point of contact at {{company_name}}.\n\nReply to this "
        "email with a couple of times that suit you and I'll call, or just answer any questions "
        "here.\n\n{{agent_name}}",
        subject="Your inquiry about {{property_interest}}",
    ),
    BuiltinTemplate(
        "open_house_followup",
        Channel.SMS,
        "Open house: thank-you text",
        "Hi {{first_name}}, {{agent_first_name}} here from {{company_name}}. Great to meet you at "
        "{{open_house_address}}! Want the disclosures or a second look this week? " + OPT_OUT_SMS,
    ),
    BuiltinTemplate(
        "open_house_followup",
        Channel.EMAIL,
        "Open house: follow-up email",
        "Hi {{first_name}},\n\nThanks for stopping by {{open_house_address}}. If you'd like the "
        "recent comparable sales for the street or a private second showing, reply and I'll set "
        "it up.\n\n{{agent_name}}",
        subject="Thanks for visiting {{open_house_address}}",
    ),
    BuiltinTemplate(
        "silent_7d",
        Channel.SMS,
        "7 days silent: gentle check-in",
        "Hi {{first_name}}, it's {{agent_first_name}} at {{company_name}}. Still thinking about "
        "{{property_interest}}? A few new options came up. Want me to send them? " + OPT_OUT_SMS,
    ),
    BuiltinTemplate(
        "silent_7d",
        Channel.EMAIL,
        "7 days silent: new options email",
        "Hi {{first_name}},\n\nI haven't heard back, so I'll keep this short: a few homes matching "
        "{{property_interest}} came on the market this week. Would you like the list?\n\nA one-word "
        "reply is plenty.\n\n{{agent_name}}",
        subject="A few new options for you, {{first_name}}",
    ),
    BuiltinTemplate(
        "reactivation_30d",
        Channel.SMS,
        "30 days silent: reactivation",
        "Hi {{first_name}}, {{agent_first_name}} from {{company_name}}. Is {{property_interest}} "
        "still on your list, or should I close your file for now? " + OPT_OUT_SMS,
    ),
    BuiltinTemplate(
        "reactivation_30d",
        Channel.EMAIL,
        "30 days silent: should I close your file?",
        "Hi {{first_name}},\n\nIt's been a month since we last spoke about {{property_interest}}. "
        "Plans change, and that's fine. Should I keep sending you options, or close your file for "
        "now?\n\n{{agent_name}}",
        subject="Should I close your file, {{first_name}}?",
    ),
    BuiltinTemplate(
        "price_drop",
        Channel.SMS,
        "Price drop: nudge",
        "Hi {{first_name}}, quick heads-up from {{agent_first_name}}: a home you looked at in "
        "{{city}} just had {{price_drop_amount}}. Want the details? " + OPT_OUT_SMS,
    ),
    BuiltinTemplate(
        "price_drop",
        Channel.EMAIL,
        "Price drop: details email",
        "Hi {{first_name}},\n\nGood news: a home you showed interest in near {{city}} just had "
        "{{price_drop_amount}}. Homes often move quickly after a reduction. Shall I book a "
        "showing?\n\n{{agent_name}}",
        subject="Price drop on a home you viewed",
    ),
)


def ensure_builtin_templates(session: Session) -> dict[tuple[str, Channel], Template]:
    """Insert any built-in template not yet stored; returns all of them by (situation, channel)."""
    builtin = select(Template).where(col(Template.is_builtin).is_(True))
    stored = {
        (t.situation or "", Channel(t.channel)): t for t in session.execute(builtin).scalars()
    }
    for spec in BUILTIN_TEMPLATES:
        key = (spec.situation, spec.channel)
        if key not in stored:
            template = Template(
                tenant_id=None,
                channel=spec.channel,
                name=spec.name,
                situation=spec.situation,
                subject=spec.subject,
                body=spec.body,
                is_builtin=True,
            )
            session.add(template)
            stored[key] = template
    session.flush()
    return stored
