"""What the dispatcher tells operators about each message it handles: the metrics (sends,
retries, compliance holds) and one log line - ids and outcomes, never the body or the address."""

import logging

from sqlalchemy.orm import Session

from recovery_app.domain.compliance import guard
from recovery_app.messaging.channels import SendResult
from recovery_app.models import Message, MessageStatus
from recovery_app.observability import metrics

logger = logging.getLogger("recovery_app.messaging.dispatcher")

# What a provider's answer made of the message, as the sends metric and the log line say it.
SEND_STATUS = {
    MessageStatus.SENT: "sent",
    MessageStatus.SIMULATED: "simulated",
    MessageStatus.QUEUED: "retry",
    MessageStatus.FAILED: "failed",
    MessageStatus.SENDING: "unknown",  # no answer: reconciled later, never resent blindly
}


def record_result(session: Session, message: Message, result: SendResult) -> None:
    """After the provider's answer was applied to `message` in `session`. Counted once that
    commits: a batch whose recording fails is recorded again message by message."""
    status = SEND_STATUS.get(MessageStatus(message.status), "unknown")
    channel = str(message.channel)

    def count() -> None:
        metrics.SENDS.labels(channel, result.provider, status).inc()
        if status == "retry":
            metrics.RETRIES.labels(channel, result.provider).inc()

    metrics.after_commit(session, count)
    logger.log(
        logging.WARNING if status == "failed" else logging.INFO,
        "message %s %s via %s",
        message.id,
        status,
        result.provider,
        extra={
            "message_id": message.id,
            "lead_id": message.lead_id,
            "channel": channel,
            "provider": result.provider,
            "outcome": str(result.outcome),
            "status": status,
            "attempt": message.attempts,
            "provider_id": result.provider_id,
            "error_code": result.error_code,
        },
    )


def record_verdict(session: Session, message: Message, verdict: guard.Verdict) -> None:
    """The guard held or blocked `message` (counted once `session` commits, as above)."""
    labels = (str(message.channel), str(verdict.action), verdict.reason or "other")
    metrics.after_commit(session, lambda: metrics.HOLDS.labels(*labels).inc())
    logger.info(
        "message %s %s by compliance: %s",
        message.id,
        "held" if verdict.action == guard.Action.HOLD else "blocked",
        verdict.reason,
        extra={"message_id": message.id, "lead_id": message.lead_id, "reason": verdict.reason},
    )
