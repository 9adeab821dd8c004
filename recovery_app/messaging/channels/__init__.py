"""Which channel carries a message: the real provider when configured, else the sandbox; demo
tenants (and DEMO_MODE) always get the sandbox."""

from recovery_app.messaging.channels.base import Channel, Outcome, Outgoing, SendResult
from recovery_app.messaging.channels.sandbox import SandboxChannel
from recovery_app.models import Channel as ChannelKind
from recovery_app.settings import Settings, get_settings

__all__ = ["Channel", "Outcome", "Outgoing", "SendResult", "channel_for"]


# Provider clients keep HTTP connection pools: build them once per settings object (tests
# reload settings, which builds new ones).
_built: tuple[Settings, dict[ChannelKind, Channel]] | None = None


def _providers(settings: Settings) -> dict[ChannelKind, Channel]:
    global _built
    if _built is not None and _built[0] is settings:
        return _built[1]
    from recovery_app.messaging.channels.sendgrid_email import SendGridEmail
    from recovery_app.messaging.channels.twilio_sms import TwilioSms

    providers: dict[ChannelKind, Channel] = {}
    if settings.twilio_configured:
        providers[ChannelKind.SMS] = TwilioSms(settings)
    if settings.sendgrid_configured:
        providers[ChannelKind.EMAIL] = SendGridEmail(settings)
    _built = (settings, providers)
    return providers


def channel_for(kind: ChannelKind | str, *, demo_tenant: bool) -> Channel:
    settings = get_settings()
    if demo_tenant or settings.demo_mode:
        return SandboxChannel()
    return _providers(settings).get(ChannelKind(kind), SandboxChannel())
