"""The engine's vocabulary. Stored as plain strings (no database enum types), so adding a value
is a code change, not a migration."""

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    ENGAGED = "engaged"
    SILENT = "silent"
    RECOVERED = "recovered"
    CONVERTED = "converted"
    LOST = "lost"


class Temperature(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageCategory(StrEnum):
    """Why a message is sent. Frequency caps apply to marketing; quiet hours to marketing,
    automated, and conversational texts to leads who never wrote to us."""

    MARKETING = "marketing"
    # Sent by automation without being asked (the instant first response): quiet hours apply,
    # the marketing cap does not.
    AUTOMATED = "automated"
    CONVERSATIONAL = "conversational"
    TRANSACTIONAL = "transactional"
    # The one opt-out confirmation: passes even right after the opt-out it confirms.
    COMPLIANCE = "compliance"
    # Alerts to our own users (agents, managers), not to leads.
    INTERNAL = "internal"


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    SUPPRESSED = "suppressed"
    SIMULATED = "simulated"
    RECEIVED = "received"
    # Never sent: its enrollment stopped (reply, opt-out, conversion) before it went out.
    CANCELED = "canceled"


class ActivityKind(StrEnum):
    FORM_SUBMITTED = "form_submitted"
    SMS_IN = "sms_in"
    SMS_OUT = "sms_out"
    EMAIL_IN = "email_in"
    EMAIL_OUT = "email_out"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    REPLY = "reply"
    CALL_LOGGED = "call_logged"
    NOTE = "note"
    STATUS_CHANGED = "status_changed"
    SCORE_CHANGED = "score_changed"
    ASSIGNED = "assigned"
    ENROLLED = "enrolled"
    UNENROLLED = "unenrolled"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    CONVERTED = "converted"
    # Taken out of recovery until a date: {"until"}.
    SNOOZED = "snoozed"
    # A behavioral trigger rule fired for the lead: {"rule_id", "rule", "action"}.
    TRIGGER_FIRED = "trigger_fired"
    # Booked through the agent's booking link (Calendly): {"invitee_uri", "event_name",
    # "starts_at", ...}; canceled: {"invitee_uri", "rescheduled", "nurture", ...}.
    APPOINTMENT_SET = "appointment_set"
    APPOINTMENT_CANCELED = "appointment_canceled"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"


class CampaignGoal(StrEnum):
    REPLY = "reply"
    APPOINTMENT = "appointment"
    CONVERSION = "conversion"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"


class DraftStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    # Its lead stopped (reply, opt-out) or its campaign ended before anyone decided.
    DISCARDED = "discarded"
