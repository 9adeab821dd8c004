"""Campaign fixtures: an office with a manager, and a builder for campaigns with steps."""

from datetime import timedelta

import pytest

from recovery_app.domain.campaigns import service
from recovery_app.domain.campaigns.schemas import CampaignIn, SendWindow, StepIn
from recovery_app.models import Channel
from tests.factories import NOW

ALWAYS = SendWindow(days=[0, 1, 2, 3, 4, 5, 6], start="00:00", end="23:59")


def two_steps(**overrides) -> list[StepIn]:
    return [
        StepIn(
            channel=Channel.SMS,
            delay_minutes=0,
            body="Hi {{first_name}}, still looking at {{property_interest}}? Reply STOP to opt out.",
        ),
        StepIn(
            channel=Channel.EMAIL,
            delay_minutes=60 * 24,
            subject="Checking in, {{first_name}}",
            body="Hi {{first_name}},\n\nAny questions I can answer?\n\n{{agent_name}}",
            **overrides,
        ),
    ]


@pytest.fixture
def make_campaign():
    def build(session, viewer, *, launch=True, now=NOW, **fields):
        data = CampaignIn(
            **(
                {
                    "name": "Win back",
                    "audience": {"status": ["silent"]},
                    "steps": two_steps(),
                    "send_window": ALWAYS,
                }
                | fields
            )
        )
        campaign = service.create_campaign(session, viewer=viewer, data=data, now=now)
        if launch:
            service.launch(session, viewer=viewer, campaign_id=campaign.id, now=now)
        return campaign

    return build


@pytest.fixture
def later():
    return lambda **kw: NOW + timedelta(**kw)
