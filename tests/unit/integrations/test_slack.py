import pytest

from recovery_app.integrations.slack import check_webhook_url, escape, mask, message


@pytest.mark.parametrize(
    ("url", "loopback", "ok"),
    [
        ("https://hooks.slack.com/services/T0/B0/abc", False, True),
        ("https://chat.example.com/hooks/abc", False, True),  # Slack-compatible servers too
        ("http://hooks.slack.com/services/T0/B0/abc", True, False),  # never plain http out
        ("http://127.0.0.1:8080/services/x", True, True),  # development and tests
        ("http://127.0.0.1:8080/services/x", False, False),  # not in production
        ("https://user:pw@hooks.slack.com/x", False, False),
        ("https://localhost/x", False, False),
        ("javascript:alert(1)", True, False),
        ("https://hooks.slack.com/" + "x" * 500, False, False),
    ],
)
def test_webhook_urls(url: str, loopback: bool, ok: bool) -> None:
    if ok:
        assert check_webhook_url(url, allow_loopback_http=loopback) == url
    else:
        with pytest.raises(ValueError):
            check_webhook_url(url, allow_loopback_http=loopback)


def test_empty_means_none_and_masking_hides_the_secret() -> None:
    assert check_webhook_url("  ") is None
    masked = mask("https://hooks.slack.com/services/T0/B0/secretabcd")
    assert masked == "https://hooks.slack.com/…abcd" and "secret" not in masked


def test_mentions_and_links_in_untrusted_text_are_escaped() -> None:
    assert escape("<!channel> & <http://x|y>") == "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
    body = message("Hot: <!here>", ["line"], url="https://app.example/leads/1")
    assert body["text"] == "Hot: &lt;!here&gt; - https://app.example/leads/1"
    assert body["blocks"][0]["text"]["text"].startswith("*Hot: &lt;!here&gt;*")
