"""Send-time optimisation: a campaign that asks for it (`send_window["optimize"]`) sends each step
in the window the office's own reply history suggests for the step's channel (the Scoring
page's best window: the two hours of the week its leads answer most), and in the window the
manager chose while there is not enough history to suggest one.

The suggestion reads 90 days of messages, so the sweep asks once per office and channel per pass
(`Suggestions`, a memo the pass carries from batch to batch), not once per lead.
"""

from datetime import datetime, time
from typing import Any

from sqlalchemy.orm import Session

from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.campaigns.schemas import DEFAULT_SEND_WINDOW
from recovery_app.domain.campaigns.windows import SendWindow
from recovery_app.domain.scoring import insights
from recovery_app.models import Campaign, Channel, Role

# (tenant id, channel) -> the office's suggestion, or None when its history is too thin.
Suggestions = dict[tuple[int, str], insights.SendWindow | None]


def suggested_window(
    session: Session, *, tenant_id: int, channel: Channel | str, now: datetime
) -> insights.SendWindow | None:
    """The best window for `channel` from the office's replies; the best over all channels when
    that channel alone has too few sends; None when neither has enough."""
    # The office's own history as a whole, as its managers see it on the Scoring page.
    office = Viewer(tenant_id=tenant_id, role=Role.MANAGER)
    for scope in (str(channel), None):
        grid = insights.response_grid(session, viewer=office, now=now, channel=scope)
        found = insights.best_window(grid)
        if found is not None:
            return found
    return None


def as_send_window(found: insights.SendWindow) -> SendWindow:
    return SendWindow(frozenset(found.days), time(found.start_hour), time(found.end_hour))


def is_optimized(config: dict[str, Any] | None) -> bool:
    return bool((config or {}).get("optimize"))


def window_for(
    session: Session,
    campaign: Campaign,
    channel: Channel | str,
    *,
    now: datetime,
    memo: Suggestions,
) -> tuple[SendWindow, bool]:
    """The window a step of `campaign` on `channel` goes out in, and whether it is the suggested
    one (True) or the campaign's own (False)."""
    config = campaign.send_window or dict(DEFAULT_SEND_WINDOW)
    if is_optimized(config):
        key = (campaign.tenant_id, str(channel))
        if key not in memo:
            memo[key] = suggested_window(
                session, tenant_id=campaign.tenant_id, channel=channel, now=now
            )
        found = memo[key]
        if found is not None:
            return as_send_window(found), True
    return SendWindow.of(config), False
