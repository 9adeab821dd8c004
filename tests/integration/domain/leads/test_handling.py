"""Lead handling settings: routing, first-response templates per source, scoring weights.
Managers only, validated, audited, and used by intake and scoring right away."""

import pytest
from sqlalchemy import select

from recovery_app.domain.leads import handling
from recovery_app.domain.leads.first_response import queue_first_response
from recovery_app.errors import Forbidden, ValidationFailed
from recovery_app.models import AuditLog, Channel, Lead, Message, Role, Tenant
from tests.factories import NOW, make_lead, make_tenant, make_user, viewer_for


@pytest.fixture
def office(session):
    tenant = make_tenant(session, name="Harbor Office - Austin")
    manager = make_user(session, tenant, role=Role.MANAGER, full_name="Dana Whitfield")
    agent = make_user(session, tenant, role=Role.AGENT, full_name="Marcus Reyes")
    return tenant, viewer_for(manager, tenant), viewer_for(agent, tenant)


def audits(session, action: str) -> list[AuditLog]:
    return list(
        session.execute(select(AuditLog).where(AuditLog.action == action)).scalars()  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------- routing
def test_routing_changes_are_saved_and_audited_field_by_field(session, office) -> None:
    tenant, manager, _ = office
    changes = handling.Routing("first_to_claim", 10, 6, True, False)
    handling.update_routing(session, viewer=manager, changes=changes)
    session.flush()
    assert handling.routing(session, viewer=manager) == changes
    assert (tenant.routing_mode, tenant.claim_window_minutes) == ("first_to_claim", 10)
    [entry] = audits(session, "tenant.routing_changed")
    assert entry.before == {
        "routing_mode": "round_robin",
        "claim_window_minutes": 5,
        "escalate_after_hours": 24,
        "notify_agents_sms": False,
    }
    assert entry.after["escalate_after_hours"] == 6 and "notify_agents_email" not in entry.after
    # Saving the same values again records nothing.
    handling.update_routing(session, viewer=manager, changes=changes)
    assert len(audits(session, "tenant.routing_changed")) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (handling.Routing(routing_mode="lottery"), "routing_mode"),
        (handling.Routing(claim_window_minutes=0), "claim_window_minutes"),
        (handling.Routing(claim_window_minutes=1441), "claim_window_minutes"),
        (handling.Routing(escalate_after_hours=0), "escalate_after_hours"),
        (handling.Routing(escalate_after_hours=721), "escalate_after_hours"),
    ],
)
def test_routing_values_out_of_range_are_refused(session, office, changes, field) -> None:
    tenant, manager, _ = office
    with pytest.raises(ValidationFailed) as refused:
        handling.update_routing(session, viewer=manager, changes=changes)
    assert set(refused.value.fields) == {field}
    assert tenant.routing_mode == "round_robin" and tenant.claim_window_minutes == 5


def test_agents_cannot_see_or_change_lead_handling(session, office) -> None:
    _, _, agent = office
    for attempt in (
        lambda: handling.routing(session, viewer=agent),
        lambda: handling.update_routing(session, viewer=agent, changes=handling.Routing()),
        lambda: handling.first_response(session, viewer=agent, source=None, channel=Channel.SMS),
        lambda: handling.save_first_response(
            session,
            viewer=agent,
            source=None,
            channel=Channel.SMS,
            subject=None,
            body="Hi",
            now=NOW,
        ),
        lambda: handling.weights(session, viewer=agent),
        lambda: handling.set_weights(
            session, viewer=agent, weights={"source": 1}, source_quality=None, now=NOW
        ),
    ):
        with pytest.raises(Forbidden):
            attempt()


# ----------------------------------------------------------------------- first response
def test_templates_inherit_from_source_to_default_to_library(session, office) -> None:
    _, manager, _ = office

    def effective(source):
        return handling.first_response(session, viewer=manager, source=source, channel=Channel.SMS)

    assert effective(None).origin == "library"
    assert "Thanks for asking" in effective("portal").body
    assert effective("open_house").origin == "library"
    assert "{{open_house_address}}" in effective("open_house").body

    handling.save_first_response(
        session,
        viewer=manager,
        source=None,
        channel=Channel.SMS,
        subject="ignored for texts",
        body="  Hi {{first_name}}, {{agent_first_name}} from {{company_name}} here.  ",
        now=NOW,
    )
    assert effective(None).origin == "own"
    assert effective(None).subject is None  # texts have no subject
    assert (
        effective(None).body
        == "Hi {{first_name}}, {{agent_first_name}} from {{company_name}} here."
    )
    # The office default now wins over the library for every source, open houses included.
    assert effective("portal").origin == "default"
    assert effective("open_house").origin == "default"

    handling.save_first_response(
        session,
        viewer=manager,
        source="portal",
        channel=Channel.SMS,
        subject=None,
        body="Hi {{first_name}}, saw you on the portal!",
        now=NOW,
    )
    assert (effective("portal").origin, effective("referral").origin) == ("own", "default")
    # Saving again replaces the template rather than adding a second one.
    handling.save_first_response(
        session,
        viewer=manager,
        source="portal",
        channel=Channel.SMS,
        subject=None,
        body="Hi {{first_name}}, thanks for your portal inquiry!",
        now=NOW,
    )
    assert effective("portal").body == "Hi {{first_name}}, thanks for your portal inquiry!"
    assert len(audits(session, "tenant.first_response_saved")) == 3

    handling.reset_first_response(session, viewer=manager, source="portal", channel=Channel.SMS)
    session.flush()
    assert effective("portal").origin == "default"
    assert len(audits(session, "tenant.first_response_reset")) == 1


def test_intake_sends_the_template_saved_for_the_source(session, office) -> None:
    tenant, manager, _ = office
    handling.save_first_response(
        session,
        viewer=manager,
        source="referral",
        channel=Channel.SMS,
        subject=None,
        body="Hi {{first_name}}, a friend sent you our way - welcome!",
        now=NOW,
    )
    lead = make_lead(session, tenant, first_name="Maria", source="referral", email=None)
    queue_first_response(session, lead=lead, tenant=tenant, now=NOW)
    [message] = session.execute(select(Message).where(Message.lead_id == lead.id)).scalars()  # type: ignore[arg-type]
    assert message.body.startswith("Hi Maria, a friend sent you our way - welcome!")


@pytest.mark.parametrize(
    ("channel", "subject", "body", "field", "why"),
    [
        (Channel.SMS, None, "   ", "body", "write the message"),
        (Channel.SMS, None, "Hi {{frist_name}}!", "body", "{{frist_name}}"),
        (Channel.SMS, None, "Hi {{first_name}}! " + "x" * 300, "body", "SMS segments"),
        (Channel.SMS, None, "Hi {{first_name}} 🏡 " + "é" * 120, "body", "SMS segments"),
        (Channel.EMAIL, "", "Hi {{first_name}}", "subject", "needs a subject"),
        (Channel.EMAIL, "x" * 256, "Hi {{first_name}}", "subject", "255"),
        (Channel.EMAIL, "About {{adress}}", "Hi", "body", "{{adress}}"),
    ],
)
def test_templates_that_would_go_out_wrong_are_refused(
    session, office, channel, subject, body, field, why
) -> None:
    _, manager, _ = office
    with pytest.raises(ValidationFailed) as refused:
        handling.save_first_response(
            session,
            viewer=manager,
            source=None,
            channel=channel,
            subject=subject,
            body=body,
            now=NOW,
        )
    assert why in refused.value.fields[field]
    assert (
        handling.first_response(session, viewer=manager, source=None, channel=channel).origin
        == "library"
    )


def test_a_two_segment_text_with_long_names_is_accepted() -> None:
    body = "Hi {{first_name}}, this is {{agent_name}} with {{company_name}}. " + "y" * 180
    assert handling.check_template(Channel.SMS, None, body) == {}


def test_an_unknown_source_is_refused(session, office) -> None:
    _, manager, _ = office
    with pytest.raises(ValidationFailed):
        handling.first_response(session, viewer=manager, source="billboard", channel=Channel.SMS)


# ---------------------------------------------------------------------------- weights
def test_new_weights_rescore_open_leads_now_and_defaults_come_back(session, office) -> None:
    tenant, manager, _ = office
    lead = make_lead(session, tenant, source="referral", message="Pre-approved, cash buyer")
    closed = make_lead(session, tenant, source="referral", status="converted", score=55)
    before = handling.weights(session, viewer=manager)
    assert before.weights == before.defaults and before.calibration is None

    changed = handling.set_weights(
        session,
        viewer=manager,
        weights={"source": 0, "intent": 0},
        source_quality={"referral": 1.0, "portal": 0.1},
        now=NOW,
    )
    session.flush()
    after = session.get(Lead, lead.id)
    assert changed >= 1
    factors = {f["factor"] for f in after.score_factors}
    assert "source" not in factors and "intent" not in factors
    assert session.get(Lead, closed.id).score == 55  # closed leads keep their last score
    stored = session.get(Tenant, tenant.id).scoring
    assert stored["weights"] == {"source": 0.0, "intent": 0.0}
    # Only what differs from the default quality is stored.
    assert stored["source_quality"] == {"portal": 0.1}
    assert handling.weights(session, viewer=manager).weights["source"] == 0
    [entry] = audits(session, "scoring.weights_changed")
    assert entry.after["weights"] == {"source": 0.0, "intent": 0.0}

    handling.set_weights(session, viewer=manager, weights=None, source_quality=None, now=NOW)
    session.flush()
    assert "weights" not in session.get(Tenant, tenant.id).scoring
    assert "source" in {f["factor"] for f in session.get(Lead, lead.id).score_factors}


@pytest.mark.parametrize(
    ("weights", "quality", "field"),
    [
        ({"charm": 5}, None, "charm"),
        ({"source": 101}, None, "source"),
        ({"silence": -100.5}, None, "silence"),
        (None, {"portal": 1.5}, "source_quality.portal"),
        (None, {" ": 0.5}, "source_quality. "),
    ],
)
def test_weights_out_of_range_are_refused(session, office, weights, quality, field) -> None:
    tenant, manager, _ = office
    with pytest.raises(ValidationFailed) as refused:
        handling.set_weights(
            session, viewer=manager, weights=weights, source_quality=quality, now=NOW
        )
    assert field in refused.value.fields
    assert "weights" not in (session.get(Tenant, tenant.id).scoring or {})
