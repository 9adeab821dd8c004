"""The signed-in frame's state (SQLite and PostgreSQL): when the session behind a tab stops
being valid, every page state of that tab is reset on the server before the browser is sent
to sign in, so whoever signs in next in that tab is never sent what these pages held."""

from datetime import UTC, datetime

import pytest

from recovery_app.db import session_scope
from recovery_app.domain.accounts import auth
from recovery_app.models import Role
from recovery_app.states.lead_detail import LeadDetailState
from recovery_app.states.leads import LeadsState
from recovery_app.states.notices import NoticeState, notice
from recovery_app.states.session import SessionState, SignInRequired
from tests.factories import make_lead, make_tenant, make_user
from tests.states import call, state_as

pytestmark = pytest.mark.anyio


@pytest.fixture
def token(app_database) -> str:
    with session_scope() as s:
        tenant = make_tenant(s, name="Harbor Realty")
        manager = make_user(s, tenant, role=Role.MANAGER, full_name="Mara Quinn")
        make_lead(s, tenant, first_name="Ada", last_name="Lovelace")
        return auth.open_session(s, user=manager, tenant_id=tenant.id, now=datetime.now(UTC))


async def test_a_session_that_ends_takes_the_tabs_page_states_with_it(token) -> None:
    leads = state_as(LeadsState, token, "/leads")
    await call(LeadsState.load, leads)
    assert leads.user_name == "Mara Quinn" and any("Ada" in r["name"] for r in leads.rows)
    detail = await leads.get_state(LeadDetailState)
    detail.lead_name = "Ada Lovelace"  # as if the lead page had been opened in this tab

    with session_scope() as s:
        auth.sign_out(s, token=token, now=datetime.now(UTC))  # revoked, e.g. in another tab
    with pytest.raises(SignInRequired):
        await call(LeadsState.load, leads)

    frame = await leads.get_state(SessionState)
    assert (frame.user_name, frame.user_role, frame.signed_in) == ("", "", False)
    assert leads.rows == [] and detail.lead_name == ""
    assert frame._viewer_cache is None


async def test_a_notice_is_a_new_toast_each_time() -> None:
    state = state_as(NoticeState, None)
    for text in ("Saved.", "Saved.", "No such lead.", "Only managers can open ROI."):
        event = notice.error(text, key="recovery-error")
        await call(NoticeState.show, state, *[a[1]._var_value for a in event.args])
    ids = [n["id"] for n in state.notices]
    assert len(ids) == 3 == len(set(ids))  # the last three, each its own
    assert [n["message"] for n in state.notices][-1] == "Only managers can open ROI."
    assert {n["kind"] for n in state.notices} == {"error"}
    await call(NoticeState.show, state, "<script>", "hello")  # unknown kinds are info
    assert state.notices[-1]["kind"] == "info"
