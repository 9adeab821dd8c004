"""The Docker image's runtime stage, started the way its CMD starts it (no Docker engine needed).

The files the Dockerfile's last stage copies from the builder are copied into a temporary
/app, and its CMD (deploy/serve.sh, also what `make serve` runs) starts there on the front end
`make build` exported: no bun on PATH, nothing rebuilt, nothing written outside the
directories the image makes writable. Then the image's HEALTHCHECK command must pass and an
admin created with `recovery create-user` (as the README's first-deploy steps do) signs in
through the real pages and websocket in Chromium.
"""

from __future__ import annotations

import re
import subprocess

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.dockerfile import runtime_stage
from tests.e2e.conftest import ImageRun
from tests.e2e.server import BIN, HOST, free_port

pytestmark = pytest.mark.e2e


def test_the_runtime_stage_serves_the_prebuilt_pages_without_a_build(image_run: ImageRun) -> None:
    page = httpx.get(f"{image_run.url}/login", follow_redirects=True, timeout=10)
    assert page.status_code == 200
    assert "<title>Sign in - Lead Recovery</title>" in page.text
    # A lead's page is a dynamic route: served from the export's routes manifest, not a 404.
    lead = httpx.get(f"{image_run.url}/leads/123", timeout=10)
    assert lead.status_code == 200
    assert httpx.get(f"{image_run.url}/no-such-page", timeout=10).status_code == 404
    log = image_run.log.read_text()
    assert "Creating Production Build" not in log and "Compiling" not in log


def test_the_healthcheck_command_passes_on_a_healthy_instance(image_run: ImageRun) -> None:
    check = subprocess.run(
        runtime_stage().healthcheck, env=image_run.env, capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stderr
    # ... and fails when nothing answers (a stopped or wedged instance).
    dead = subprocess.run(
        runtime_stage().healthcheck,
        env={**image_run.env, "PORT": str(free_port())},
        capture_output=True,
        timeout=30,
    )
    assert dead.returncode != 0


def test_the_first_admin_signs_in_through_pages_and_websocket(
    image_run: ImageRun, browser: Browser
) -> None:
    def recovery(*args: str, stdin: str = "") -> None:
        subprocess.run(
            [str(BIN / "recovery"), *args],
            input=stdin,
            env=image_run.env,
            cwd=image_run.app_dir,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )

    recovery(
        "create-tenant",
        "--name",
        "Main Office",
        "--location-id",
        "main",
        "--timezone",
        "America/Chicago",
    )
    recovery(
        "create-user",
        "--email",
        "owner@example.com",
        "--role",
        "admin",
        "--tenant",
        "main",
        "--password-stdin",
        "--name",
        "Ada Owner",
        stdin="correct-horse-battery-staple",
    )
    page = browser.new_page()
    try:
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        page.goto(image_run.url + "/dashboard")
        expect(page).to_have_url(re.compile(r"/login\?"), timeout=60_000)
        page.locator("#login-email").fill("owner@example.com")
        page.locator("#login-password").fill("correct-horse-battery-staple")
        page.locator("#login-submit").click()
        expect(page.locator("#user-name")).to_have_text("Ada Owner", timeout=60_000)
        # The websocket dials the address the page came from, not one the build names.
        assert any(url.startswith(f"ws://{HOST}:{image_run.port}/_event") for url in sockets)
        # An admin moves to another office: the page opens again for it (it used to reload
        # through eval, which the CSP refuses, so nothing happened).
        page.goto(image_run.url + "/leads")
        expect(page.locator(".lead-row")).to_have_count(0)  # Main Office has no leads yet
        page.locator("#tenant-select").click()
        page.get_by_role("option", name="Harborview Realty - Austin").click()
        expect(page.locator("#tenant-select")).to_have_text("Harborview Realty - Austin")
        expect(page.locator(".lead-row").first).to_be_visible()
        expect(page).to_have_url(re.compile(r"/leads/?$"))
    finally:
        page.close()


def test_the_exported_pages_name_no_address(image_run: ImageRun) -> None:
    """One build for every address: no page (nor the endpoints the bundle dials) carries a
    host, port or scheme of the deployment - the form actions are paths, and the websocket,
    uploads and pings resolve against the page's own origin (recovery_app/same_origin.py)."""
    built = image_run.app_dir / ".web/build/client"
    pages = sorted(built.rglob("*.html"))
    assert len(pages) > 10
    # Any URL with a scheme, but the SVG namespace (a name, never fetched).
    address = re.compile(
        r"localhost|127\.0\.0\.1|0\.0\.0\.0|prerender\.invalid|(?:https?|wss?)://(?!www\.w3\.org/)"
    )
    for html in pages:
        text = html.read_text()
        found = {m.group(0) for m in address.finditer(text)}
        assert not found, f"{html.relative_to(built)} names {found}"
        assert 'action="http' not in text
    login = (built / "login.html").read_text()
    assert 'action="/api/v1/auth/login"' in login
    (env_chunk,) = built.glob("assets/reflex-env-*.js")
    assert "EVENT:`/_event`" in env_chunk.read_text() and "SAME_ORIGIN:!0" in env_chunk.read_text()
