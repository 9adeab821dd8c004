"""The campaign wizard's page state (SQLite and PostgreSQL): the form survives a second
on_load (a websocket reconnect hydrates again), edited text leaves its template, steps move and
go, and each step card shows its preview, counter and errors."""

from datetime import UTC, datetime

import pytest

from recovery_app.db import session_scope
from recovery_app.domain.accounts.auth import open_session
from recovery_app.models import LeadStatus, Role
from recovery_app.states.campaign_wizard import CampaignWizardState as W
from tests.factories import make_lead, make_tenant, make_user
from tests.states import call, state_as

pytestmark = pytest.mark.anyio


@pytest.fixture
def token(app_database) -> str:
    with session_scope() as s:
        tenant = make_tenant(s, name="Harbor Realty")
        manager = make_user(s, tenant, role=Role.MANAGER)
        agent = make_user(s, tenant, full_name="Dana Cole")
        make_lead(s, tenant, status=LeadStatus.SILENT, first_name="Ana", assigned_user_id=agent.id)
        return open_session(s, user=manager, tenant_id=tenant.id, now=datetime.now(UTC))


async def test_a_second_load_keeps_the_draft_on_the_page(token) -> None:
    state = state_as(W, token, "/campaigns/new")
    await call(W.load, state)
    assert state.audience_count == 1 and state.sample[0]["name"].startswith("Ana")
    assert len(state.steps) == 1 and state.steps[0]["channel"] == "sms"
    await call(W.set_name, state, "Win back")
    events = await call(W.go_next, state)
    assert state.stage == 1 and state.draft_id
    assert f"/campaigns/{state.draft_id}" in str(events)  # the address becomes the draft's
    await call(W.add_step, state, "email")

    # The redirect (or a reconnect) runs on_load again for the draft's address.
    state.router = state_as(W, token, f"/campaigns/{state.draft_id}").router
    await call(W.load, state)
    assert state.stage == 1 and [r["channel"] for r in state.steps] == ["sms", "email"]

    # A fresh tab opening the saved draft gets what was saved (the steps were not yet).
    other_tab = state_as(W, token, f"/campaigns/{state.draft_id}")
    await call(W.load, other_tab)
    assert other_tab.name == "Win back" and other_tab.stage == 0
    assert [r["channel"] for r in other_tab.steps] == ["sms"]

    # "New campaign" starts blank.
    state.router = state_as(W, token, "/campaigns/new").router
    await call(W.load, state)
    assert (state.draft_id, state.name, state.stage) == (0, "", 0)


async def test_steps_edit_move_and_show_their_checks(token) -> None:
    state = state_as(W, token, "/campaigns/new")
    await call(W.load, state)
    await call(W.add_step, state, "email")
    sms, email = state.steps
    assert sms["template_id"] != "none" and email["subject"]

    await call(W.set_step, state, 1, "subject", "")
    assert state.steps[1]["template_id"] == "none"  # edited text is the step's own
    await call(W.set_step, state, 0, "body", "Hi {{first_name}}, any news?")
    await call(W.insert_variable, state, 0, "agent_first_name")
    assert state.steps[0]["body"] == "Hi {{first_name}}, any news? {{agent_first_name}}"
    view = state.step_views[0]
    assert view["preview_body"] == "Hi Ana, any news? Dana"
    assert view["counter"].startswith("GSM-7 - 22 of 160 characters - 1 segment")
    assert view["opt_out"] is False

    await call(W.set_name, state, "Checks")
    await call(W.go_to, state, 3)  # past messages: the emptied subject stops it there
    assert state.stage == 0  # nothing is skipped over while a stage before has an error
    assert state.step_views[1]["error_subject"] == "an email needs a subject"

    await call(W.move_step, state, 1, -1)
    assert [r["channel"] for r in state.steps] == ["email", "sms"]
    await call(W.remove_step, state, 0)
    assert [r["channel"] for r in state.steps] == ["sms"]
    await call(W.pick_template, state, 0, email["template_id"])  # an email template: refused
    assert state.steps[0]["body"] == "Hi {{first_name}}, any news? {{agent_first_name}}"
