"""The peer benchmark compares like with like: the n8n workflow's Code node scores a lead as the
floor does (run with Node against the floor's Python), and both send Twilio the form fields the
engine's dispatcher sends through the Twilio SDK."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from bench.peers.floor import STATUS_CALLBACK, lead_score, sms_form
from tests.fakes.providers import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = json.loads((ROOT / "bench/peers/n8n_workflow.json").read_text())
NODES = {node["name"]: node for node in WORKFLOW["nodes"]}

LEADS = [
    {
        "source": "web_form",
        "phone": "+15125550123",
        "email": "a@example.com",
        "message": "Pre-approved, moving in 2 months",
        "value": 450_000,
        "first_name": "Ana",
    },
    {"source": "referral", "phone": "+15125550124", "message": "cash buyer, asap", "value": 9e5},
    {"source": "portal", "email": "b@example.com", "message": "just browsing", "value": 0},
    {"source": "tiktok", "email": "c@example.com"},
    {"source": "open_house", "phone": "+15125550125", "message": "", "value": 260_000},
]


def test_workflow_is_webhook_store_score_send_respond() -> None:
    order, name = [], "Webhook"
    while name:
        order.append(NODES[name]["type"].removeprefix("n8n-nodes-base."))
        following = WORKFLOW["connections"].get(name, {}).get("main", [[]])[0]
        name = following[0]["node"] if following else None
    assert order == ["webhook", "postgres", "code", "httpRequest", "respondToWebhook"]
    assert NODES["Webhook"]["parameters"]["responseMode"] == "responseNode"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node to run the Code node")
def test_code_node_scores_as_the_floor_does() -> None:
    code = NODES["Score"]["parameters"]["jsCode"]
    # The Code node's body, with n8n's $ and $json played by plain values, once per lead.
    script = (
        "const leads = JSON.parse(process.argv[1]);\n"
        "const out = leads.map((lead) => (function ($, $json) {\n"
        f"{code}\n"
        "})(() => ({ item: { json: { body: lead } } }), { id: 7 }).json);\n"
        "console.log(JSON.stringify(out));"
    )
    result = subprocess.run(
        ["node", "-e", script, json.dumps(LEADS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    scored = json.loads(result.stdout)
    assert [(s["score"], s["temperature"]) for s in scored] == [lead_score(x) for x in LEADS]
    assert {s["score"] for s in scored} != {scored[0]["score"]}  # the factors do move it
    assert scored[0]["lead_id"] == 7
    assert "Reply STOP" in scored[0]["text"]


def test_twilio_fields_are_the_sdks() -> None:
    """The field names the Twilio SDK posts for the dispatcher's call are the ones the n8n
    HTTP Request node and the floor post."""
    twilio = FakeTwilio()
    try:
        client = Client("AC" + "0" * 32, "token", http_client=TwilioHttpClient(timeout=5))
        client.api.base_url = twilio.url
        client.messages.create(
            to="+15125550123",
            from_="+15125550100",
            body="hi",
            status_callback=STATUS_CALLBACK,
            validity_period=3600,
        )
        sdk_fields = set(twilio.messages[0]) - {"sid", "received_at"}
    finally:
        twilio.close()
    http = NODES["Send first text"]["parameters"]
    n8n_fields = {p["name"] for p in http["bodyParameters"]["parameters"]}
    assert http["contentType"] == "form-urlencoded"
    # The runner points the workflow at the fake Twilio by replacing this base URL.
    twilio_url = "https://api.twilio.com/2010-04-01/Accounts/AC" + "0" * 32 + "/Messages.json"
    assert http["url"] == twilio_url
    assert n8n_fields == sdk_fields
    assert set(sms_form(LEADS[0])) == sdk_fields
