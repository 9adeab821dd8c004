import pytest

from recovery_app.domain.campaigns.library import BUILTIN_TEMPLATES
from recovery_app.domain.campaigns.rendering import render
from recovery_app.messaging.segments import sms_segments
from recovery_app.models import Channel

LONG_VALUES = {
    "first_name": "Maximiliana",
    "agent_name": "Christopher Montgomery",
    "agent_first_name": "Christopher",
    "company_name": "Harborview Realty",
    "property_interest": "11802 Shadow Creek Pkwy",
    "city": "Pflugerville",
    "open_house_address": "11802 Shadow Creek Pkwy",
    "price_drop_amount": "a $25,000 price drop",
}

SMS = [t for t in BUILTIN_TEMPLATES if t.channel == Channel.SMS]


def test_library_covers_the_common_recovery_situations() -> None:
    situations = {t.situation for t in BUILTIN_TEMPLATES}
    assert situations == {
        "new_web_lead",
        "open_house_followup",
        "silent_7d",
        "reactivation_30d",
        "price_drop",
    }
    for situation in situations:
        assert {t.channel for t in BUILTIN_TEMPLATES if t.situation == situation} == {
            Channel.SMS,
            Channel.EMAIL,
        }


@pytest.mark.parametrize("template", SMS, ids=lambda t: t.name)
def test_every_sms_fits_two_segments_with_long_values(template) -> None:
    assert sms_segments(render(template.body, LONG_VALUES)) <= 2
    assert sms_segments(render(template.body, {})) <= 2


@pytest.mark.parametrize("template", SMS, ids=lambda t: t.name)
def test_every_sms_carries_opt_out_language(template) -> None:
    assert "Reply STOP to opt out" in template.body


def test_every_email_has_a_subject() -> None:
    assert all(t.subject for t in BUILTIN_TEMPLATES if t.channel == Channel.EMAIL)
