"""Log lines: the JSON shape, the request id on every line, secrets scrubbed."""

import io
import json
import logging
import os

import pytest

from recovery_app.observability import request_id
from recovery_app.observability.logs import REDACTED, configure_logging, scrub
from recovery_app.settings import Settings


@pytest.fixture
def stream():
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    yield out
    for handler in [h for h in root.handlers if getattr(h, "_recovery", False)]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_the_request_id_and_extra_fields(stream) -> None:
    configure_logging(Settings(log_format="json"), stream=stream)
    log = logging.getLogger("recovery_app.test")
    with request_id.bound("req-123"):
        log.info("message %s sent", 42, extra={"message_id": 42, "channel": "sms"})
    log.info("outside any request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "message 42 sent" and first["level"] == "INFO"
    assert first["logger"] == "recovery_app.test" and first["request_id"] == "req-123"
    assert (first["message_id"], first["channel"]) == (42, "sms")
    assert first["time"].endswith("+00:00")
    assert second["request_id"] is None
    # Which of the server's worker processes wrote it.
    assert first["pid"] == second["pid"] == os.getpid()


def test_configured_secrets_and_secret_shapes_are_scrubbed(stream) -> None:
    settings = Settings(log_format="json", twilio_auth_token="tw-token-123456", secret_key="k" * 40)
    configure_logging(settings, stream=stream)
    log = logging.getLogger("recovery_app.test")
    key = "rk_0a1b2c3d_" + "Z" * 43
    log.warning("token tw-token-123456 in %s", "Authorization: Bearer abc.def")
    log.warning("key %s", key, extra={"header": "sha256=" + "ab" * 32})
    try:
        raise RuntimeError("boom " + "k" * 40)
    except RuntimeError:
        log.exception("failed")
    written = stream.getvalue()
    assert "tw-token-123456" not in written and "abc.def" not in written
    assert key not in written and "rk_0a1b2c3d_" + REDACTED in written
    assert "ab" * 32 not in written and "k" * 40 not in written
    assert written.count(REDACTED) >= 5


def test_readable_lines_in_development(stream) -> None:
    configure_logging(Settings(log_format="text", log_level="DEBUG"), stream=stream)
    with request_id.bound("abcdef123456789"):
        logging.getLogger("recovery_app.test").debug("hello", extra={"lead_id": 7})
    line = stream.getvalue().strip()
    assert line.endswith("DEBUG recovery_app.test [abcdef123456] hello lead_id=7")


def test_noisy_libraries_stay_at_warning(stream) -> None:
    configure_logging(Settings(), stream=stream)
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("httpx").info("HTTP Request: POST https://hooks.slack.com/services/T/B/x")
    logging.getLogger("twilio.http_client").info("Query Params: {'To': '+15125550199'}")
    assert stream.getvalue() == ""


def test_scrub_leaves_ordinary_text_alone() -> None:
    assert scrub("message 42 sent via twilio", ["secret-value"]) == "message 42 sent via twilio"


def test_a_malformed_call_does_not_raise_at_the_caller(stream) -> None:
    configure_logging(Settings(log_format="json"), stream=stream)
    logging.raiseExceptions, before = False, logging.raiseExceptions
    try:
        logging.getLogger("recovery_app.test").info("two %s %s", "one")  # logging's own report
    finally:
        logging.raiseExceptions = before
