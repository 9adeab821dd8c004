"""The sandbox channel: records, never sends. Used without provider credentials and always for
demo tenants, so a demo can never text a real phone."""

from recovery_app.messaging.channels.base import Outcome, Outgoing, SendResult


class SandboxChannel:
    provider = "sandbox"

    def send(self, message: Outgoing) -> SendResult:
        return SendResult(
            Outcome.SIMULATED, self.provider, provider_id=f"sandbox-{message.message_id}"
        )

    def reconcile(self, message: Outgoing) -> SendResult:
        return self.send(message)
