"""The FCC's revoke-all rule (47 CFR 64.1200(a)(10), in force from REVOKE_ALL_FROM, 31 January
2027): a person who revokes consent on one channel has revoked it for all of an office's
marketing, texts and email alike. An office may keep a channel apart (Settings: "An opt-out
elsewhere also stops ..."), for example email for a lead who only said STOP to texts, where
its counsel says so. Revocation by any reasonable means is honoured at once: STOP words, an
opt-out in free words in a text or a CRM message, an unsubscribe, a person recording it."""

from datetime import datetime

from recovery_app.models import Channel, Lead, Tenant
from recovery_app.settings import get_settings

# tenant.preferences key: channels an opt-out elsewhere does not stop (["email"], ["sms"]).
EXEMPT = "revoke_all_exempt"


def exempt_channels(tenant: Tenant) -> set[str]:
    return {str(c) for c in (tenant.preferences or {}).get(EXEMPT, [])}


def revoked_elsewhere(lead: Lead, tenant: Tenant, channel: Channel, now: datetime) -> bool:
    """Marketing on `channel` is stopped by an opt-out on the other channel."""
    other = lead.opted_out_email if channel == Channel.SMS else lead.opted_out_sms
    if not other or now.date() < get_settings().revoke_all_from:
        return False
    return str(channel) not in exempt_channels(tenant)
