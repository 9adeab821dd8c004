"""Page routes in one place, so links and redirects never drift from the pages."""

INDEX = "/"
LOGIN = "/login"
DASHBOARD = "/dashboard"
LEADS = "/leads"
SILENT = "/silent"
APPROVALS = "/approvals"
INBOX = "/inbox"
CAMPAIGNS = "/campaigns"
CAMPAIGN_NEW = "/campaigns/new"
SCORING = "/scoring"
ROI = "/roi"
ROI_REPORT = "/roi/report"
SETTINGS = "/settings"
TEAM = "/settings/team"
API_KEYS = "/settings/api-keys"
AUDIT = "/settings/audit"
LEAD_HANDLING = "/settings/lead-handling"
TRIGGERS = "/settings/triggers"
OFFICE = "/settings/office"
# Admins: inbound texts no office could be found for.
UNMATCHED = "/settings/unmatched-texts"


def lead_detail(lead_id: int | str) -> str:
    return f"{LEADS}/{lead_id}"


def campaign(campaign_id: int | str) -> str:
    """The wizard of a draft campaign (`CAMPAIGN_NEW` for one not saved yet)."""
    return f"{CAMPAIGNS}/{campaign_id}"


API_PREFIX = "/api/v1"


def safe_next(value: str | None) -> str:
    """A same-site path to return to after signing in; anything else (absolute URLs,
    protocol-relative `//host`, backslashes) falls back to the dashboard: no open redirects."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or len(value) > 512
    ):
        return DASHBOARD
    return value
