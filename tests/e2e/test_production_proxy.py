"""The production server as users reach it: through the Caddy config in deploy/
(Caddyfile.hosts) over TLS, on another port than the app's, at a domain name - the same
exported build the other production checks open directly at http://127.0.0.2:PORT.

One flow end to end: sign in, a page, a live update over the websocket (a lead posted to
the public webhook URL shows up on the open dashboard), sign out."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import IMAGE_LEAD_SECRET, PROXY_HOST, ImageRun, proxy_request, sign_in

pytestmark = pytest.mark.e2e


def test_tls_is_the_proxys_and_verifies_for_the_domain(image_run: ImageRun) -> None:
    port = urlsplit(image_run.proxy_url).port
    assert port is not None and port != image_run.port
    status, headers, body = proxy_request(port, "GET", "/login/", image_run.proxy_ca)
    assert status == 200 and b"<title>Sign in - Lead Recovery</title>" in body
    # APP_BASE_URL is https: the policy pins browsers to it, and names its websocket.
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert f"wss://{PROXY_HOST}:{port}" in headers["content-security-policy"]
    # The server's own redirect keeps the browser on https (it answers with a path).
    status, headers, _ = proxy_request(port, "GET", "/login", image_run.proxy_ca)
    assert status in (301, 307, 308) and headers["location"].startswith("/login/")


def test_sign_in_a_page_a_live_update_and_sign_out_through_the_proxy(
    image_run: ImageRun, browser
) -> None:
    port = urlsplit(image_run.proxy_url).port
    assert port is not None
    # Caddy's certificate comes from its own local CA, which this Chromium does not trust;
    # the handshake itself is verified against that CA in the test above.
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, ignore_https_errors=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        sign_in(page, image_run.through_proxy(), image_run.account("manager"), path="/dashboard")
        expect(page).to_have_url(re.compile(rf"^https://{PROXY_HOST}:{port}/dashboard"))
        assert any(url.startswith(f"wss://{PROXY_HOST}:{port}/_event") for url in sockets)
        new_today = page.locator("#new-today .figure-value")
        expect(new_today).to_have_text(re.compile(r"^\d+$"))
        before = int(new_today.inner_text())

        body = json.dumps(
            {
                "location_id": "harborview-austin",
                "first_name": "Proxima",
                "last_name": "Centauri",
                "email": f"proxima.{time.time_ns()}@example.com",
                "source": "web_form",
            }
        ).encode()
        signature = hmac.new(IMAGE_LEAD_SECRET.encode(), body, hashlib.sha256).hexdigest()
        status, _, answer = proxy_request(
            port,
            "POST",
            "/api/v1/webhooks/leads",
            image_run.proxy_ca,
            body=body,
            headers={"Content-Type": "application/json", "X-Signature-256": f"sha256={signature}"},
        )
        assert status == 201, answer
        expect(new_today).to_have_text(str(before + 1), timeout=15_000)
        expect(page.locator("#feed")).to_contain_text("Proxima Centauri", timeout=15_000)

        page.locator("#sign-out").click()
        expect(page).to_have_url(
            re.compile(rf"^https://{PROXY_HOST}:{port}/login/?\?error=signed_out")
        )
        page.goto(f"https://{PROXY_HOST}:{port}/dashboard")
        expect(page).to_have_url(re.compile(r"/login/?\?error="))
    finally:
        context.close()
