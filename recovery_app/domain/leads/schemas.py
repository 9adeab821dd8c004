from dataclasses import dataclass, field
from datetime import datetime

from recovery_app.models import Activity, Lead, Message
from recovery_app.models.enums import LeadStatus, Temperature

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200

# Sort keys the lead list accepts, each mapped to columns by the repository.
SORT_KEYS = ("last_activity", "created", "score", "name", "status")


@dataclass(frozen=True, slots=True)
class LeadQuery:
    """One page of a tenant's leads: filters, a sort and a 1-based page number."""

    status: LeadStatus | None = None
    temperature: Temperature | None = None
    source: str | None = None
    # An agent's id; 0 means "unassigned only".
    assigned_user_id: int | None = None
    min_score: int | None = None
    max_score: int | None = None
    # Written to at least (and at most) this many hours ago with no answer since.
    silent_for_hours: int | None = None
    silent_max_hours: int | None = None
    # Leave out converted and lost leads.
    open_only: bool = False
    text: str = ""
    sort: str = "last_activity"
    descending: bool = True
    page: int = 1
    page_size: int = PAGE_SIZE


@dataclass(frozen=True, slots=True)
class LeadSummary:
    id: int
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    source: str
    status: str
    temperature: str
    score: int
    assigned_user_id: int | None
    assigned_name: str | None
    created_at: datetime
    last_activity_at: datetime
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    opted_out_sms: bool
    opted_out_email: bool


@dataclass(frozen=True, slots=True)
class LeadPage:
    items: list[LeadSummary]
    total: int
    page: int
    page_size: int

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True, slots=True)
class AgentOption:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class LeadFilterOptions:
    sources: list[str] = field(default_factory=list)
    agents: list[AgentOption] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LeadDetail:
    lead: Lead
    assigned_name: str | None
    activities: list[Activity]
    messages: list[Message]
    # Speed to lead: the first message to reach the lead's phone or inbox.
    first_delivered_at: datetime | None = None
