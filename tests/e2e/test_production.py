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

from tests.e2e.conftest import ImageRun, chromium_on_built_port, sign_in

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
    chromium = chromium_on_built_port(browser, prod)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
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
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()
        chromium.close()


def test_other_origins_are_refused(image_run: ImageRun) -> None:
    ours, at = image_run.url, f"http://localhost:{image_run.port}"  # built for; listening
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
    at = f"http://localhost:{image_run.port}"
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
