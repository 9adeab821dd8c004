"""Every table, imported here so `SQLModel.metadata` (and Alembic) sees the whole schema."""

from recovery_app.models.account import (
    ApiKey,
    LeadOffer,
    Notification,
    SignInAttempt,
    User,
    UserSession,
)
from recovery_app.models.base import pk
from recovery_app.models.campaign import (
    AiDraft,
    Campaign,
    CampaignStep,
    DraftReview,
    Enrollment,
    Template,
    TriggerFiring,
    TriggerRule,
)
from recovery_app.models.conversion import Conversion, ConversionCredit
from recovery_app.models.enums import (
    ActivityKind,
    CampaignGoal,
    CampaignStatus,
    Channel,
    Direction,
    DraftStatus,
    EnrollmentStatus,
    LeadStatus,
    MessageCategory,
    MessageStatus,
    Role,
    Temperature,
)
from recovery_app.models.integration import (
    EnrichmentCache,
    EnrichmentCall,
    GhlWrite,
    SlackAlert,
    TenantIntegration,
)
from recovery_app.models.lead import Activity, Lead
from recovery_app.models.message import Message
from recovery_app.models.metrics import DailyMessageCost, DailyMetric
from recovery_app.models.running_totals import (
    CampaignMessageDelta,
    CampaignMessageTotal,
    LeadFactorDelta,
    LeadFactorTotal,
    ReplyHourDelta,
    ReplyHourTotal,
)
from recovery_app.models.system import (
    AuditLog,
    JobRun,
    SchedulerLease,
    Suppression,
    WebhookEvent,
    WebhookFailure,
)
from recovery_app.models.tenant import Tenant

__all__ = [
    "Activity",
    "ActivityKind",
    "AiDraft",
    "ApiKey",
    "AuditLog",
    "Campaign",
    "CampaignGoal",
    "CampaignMessageDelta",
    "CampaignMessageTotal",
    "CampaignStatus",
    "CampaignStep",
    "Channel",
    "Conversion",
    "ConversionCredit",
    "DailyMessageCost",
    "DailyMetric",
    "Direction",
    "DraftReview",
    "DraftStatus",
    "EnrichmentCache",
    "EnrichmentCall",
    "Enrollment",
    "EnrollmentStatus",
    "GhlWrite",
    "JobRun",
    "Lead",
    "LeadFactorDelta",
    "LeadFactorTotal",
    "LeadOffer",
    "LeadStatus",
    "Message",
    "MessageCategory",
    "MessageStatus",
    "Notification",
    "ReplyHourDelta",
    "ReplyHourTotal",
    "Role",
    "SchedulerLease",
    "SignInAttempt",
    "SlackAlert",
    "Suppression",
    "Temperature",
    "Template",
    "Tenant",
    "TenantIntegration",
    "TriggerFiring",
    "TriggerRule",
    "User",
    "UserSession",
    "WebhookEvent",
    "WebhookFailure",
    "pk",
]
