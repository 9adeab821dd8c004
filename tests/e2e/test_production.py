"""The production server as the image runs it (`image_run`: `reflex run --env prod
--backend-only` on the exported pages, one port): its pages carry the security headers, the app
works in a real browser under the Content-Security-Policy without one violation, the websocket
and the API refuse other origins, and /metrics and the JSON logs are there."""

import json
import re

import httpx
import pytest
from playwright.sync_api import expect
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from tests.e2e.conftest import Address, ImageRun, sign_in

pytestmark = pytest.mark.e2e

# Pages with the most front-end machinery: charts (Plotly), tables, forms, the live feed.
PAGES = (
    ("/dashboard", "#feed"),
    ("/leads", ".lead-row"),
    ("/roi", "#fig-revenue"),
    ("/scoring", "#heat-table"),
    ("/campaigns/new", "#audience-sample"),
    ("/settings/office", "#office-save"),
)
# Every violation the page reports, whatever the directive (script, style, connect, img...).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(
  {directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber}
));
"""


def test_pages_work_under_the_csp_without_a_violation(image_run: ImageRun, browser) -> None:
    prod = image_run
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login = page.goto(prod.url + "/login")
        assert login is not None
        policy = login.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "'unsafe-eval'" not in policy
        assert login.headers["x-content-type-options"] == "nosniff"
        # Signing in goes over the websocket: connect-src and the origin check let it through.
        sign_in(page, prod, prod.account("manager"), path="/dashboard")
        for path, ready in PAGES:
            page.goto(prod.url + path)
            expect(page.locator(ready).first).to_be_attached()
            page.wait_for_timeout(500)  # late renders (charts) report their violations too
            assert page.evaluate("window.__cspViolations") == [], path
        # Console errors (a CSP refusal among them) fail the test too (browser_problems).
    finally:
        context.close()


def test_other_origins_are_refused(image_run: ImageRun) -> None:
    ours, at = image_run.proxy_url, image_run.url  # APP_BASE_URL; where it listens
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    socket_url = at + "/_event/?EIO=4&transport=websocket"
    refused = httpx.get(socket_url, headers=upgrade | {"Origin": "https://evil.example"})
    assert refused.status_code == 403
    preflight = {"Access-Control-Request-Method": "POST"}
    foreign = httpx.options(
        at + "/api/v1/recovery/trigger",
        headers=preflight | {"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 400 and "access-control-allow-origin" not in foreign.headers
    allowed = httpx.options(at + "/api/v1/recovery/trigger", headers=preflight | {"Origin": ours})
    assert allowed.headers["access-control-allow-origin"] == ours


def test_metrics_and_json_logs(image_run: ImageRun) -> None:
    at = image_run.url
    response = httpx.get(
        at + "/api/v1/metrics", headers={"X-Request-ID": "scrape-e2e-1"}, timeout=10
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == "scrape-e2e-1"
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"recovery_job_duration_seconds", "recovery_outbox_messages"} <= names
    huge = httpx.post(at + "/api/v1/auth/login", content=b"x" * (2 * 1024 * 1024))
    assert huge.status_code == 413 and huge.headers["content-security-policy"]
    lines = [
        json.loads(line)
        for line in image_run.log.read_text(errors="replace").splitlines()
        if line.startswith('{"')
    ]
    jobs = [line for line in lines if line["logger"] == "recovery_app.jobs.runner"]
    assert jobs and all(re.fullmatch(r"job-\w+-[0-9a-f]{12}", j["request_id"]) for j in jobs)
    assert {"time", "level", "logger", "message", "request_id"} <= set(jobs[0])


def _leads_of(image_run: ImageRun, *, email: str | None, mine: bool) -> list[tuple[int, str]]:
    """(id, full name) of the Austin office's leads assigned to `email` (or to someone else;
    email None: the unassigned pool)."""
    if email is None:
        who = "l.assigned_user_id IS NULL"
    else:
        who = f"l.assigned_user_id IN (SELECT id FROM users WHERE email {'=' if mine else '<>'} :email)"
    engine = create_engine(image_run.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT l.id, l.first_name || ' ' || l.last_name FROM leads l"
                    " JOIN tenants t ON t.id = l.tenant_id"
                    f" WHERE t.location_id = 'harborview-austin' AND {who} ORDER BY l.id"
                ),
                {"email": email},
            )
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def test_refusals_reach_the_user_under_the_csp(image_run: ImageRun, page) -> None:
    """The toasts a refusal sends ("No such lead.", "Only managers ...") used to need eval,
    which the policy forbids: they threw in the console and never showed."""
    agent = image_run.account("agent")
    (other_id, _), *_ = _leads_of(image_run, email=agent.email, mine=False)
    sign_in(page, image_run, agent, path="/leads")
    page.goto(f"{image_run.url}/leads/{other_id}")
    expect(page.locator("[data-sonner-toast]").filter(has_text="No such lead.")).to_be_visible()
    page.goto(f"{image_run.url}/roi")
    expect(
        page.locator("[data-sonner-toast]").filter(has_text="Only managers can open the ROI page.")
    ).to_be_visible()
    expect(page).to_have_url(re.compile(r"/leads/?$"))  # and sent where they may be
    # A reload hydrates the same notices again: each shows once per tab.
    page.reload()
    expect(page.locator(".lead-row").first).to_be_visible()
    page.wait_for_timeout(1000)
    expect(page.locator("[data-sonner-toast]")).to_have_count(0)


def test_switching_users_in_one_tab_sends_nothing_of_the_first(image_run: ImageRun, page) -> None:
    """A manager works, signs out; an agent signs in in the same tab. No websocket frame the
    agent's pages receive may carry the manager's pages: the manager's name as the viewer,
    leads the agent may not open, the manager's role."""
    manager, agent = image_run.account("manager"), image_run.account("agent")
    visible = {name for _, name in _leads_of(image_run, email=agent.email, mine=True)}
    visible |= {name for _, name in _leads_of(image_run, email=None, mine=True)}  # the pool
    hidden = [
        (i, n) for i, n in _leads_of(image_run, email=agent.email, mine=False) if n not in visible
    ]
    assert hidden
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda f: frames.append(f if isinstance(f, str) else f.decode(errors="replace")),
        ),
    )
    sign_in(page, image_run, manager, path=f"/leads/{hidden[0][0]}")
    expect(page.locator("#lead-title")).to_have_text(hidden[0][1])
    page.goto(image_run.url + "/leads")
    expect(page.locator(".lead-row").first).to_be_visible()
    seen_by_manager = [name for _, name in hidden if any(name in f for f in frames)]
    assert hidden[0][1] in seen_by_manager  # the check below can see a leak
    page.locator("#sign-out").click()
    expect(page).to_have_url(re.compile(r"/login/?\?error=signed_out"))
    frames.clear()

    sign_in(page, image_run, agent, path="/leads")
    expect(page.locator(".lead-row").first).to_be_visible()
    page.goto(f"{image_run.url}/leads/{hidden[0][0]}")
    expect(page.locator("[data-sonner-toast]").filter(has_text="No such lead.")).to_be_visible()
    page.wait_for_timeout(1000)
    assert frames
    leaked = [name for name in seen_by_manager if any(name in f for f in frames)]
    assert not leaked, f"the agent's tab was sent the manager's leads: {leaked[:5]}"
    assert not [f for f in frames if '"user_role_rx_state_":"manager"' in f]
    assert not [f for f in frames if f'"user_name_rx_state_":"{_name(manager)}"' in f]


def _name(account) -> str:
    first, last = account.email.split("@")[0].split(".")
    return f"{first.title()} {last.title()}"


def test_the_same_build_signs_in_at_localhost_too(image_run: ImageRun, page) -> None:
    """127.0.0.2 (the other tests), localhost here, the proxy's https domain in
    test_production_proxy.py: one exported build, three addresses."""
    at_localhost = Address(f"http://localhost:{image_run.port}")
    sign_in(page, at_localhost, image_run.account("manager"), path="/leads")
    expect(page.locator(".lead-row").first).to_be_visible()
    assert page.url.startswith(f"http://localhost:{image_run.port}/leads")
