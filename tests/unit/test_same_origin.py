"""The exported pages name no address: env.json carries paths, and Reflex's getBackendURL
(patched by SameOriginPlugin) resolves them against the page's own origin."""

from pathlib import Path

import pytest
import reflex_base

from recovery_app import same_origin

TEMPLATE = Path(reflex_base.__file__).parent / ".templates/web/utils/state.js"


def test_the_patch_applies_to_reflexs_own_template_once() -> None:
    source = TEMPLATE.read_text()
    patched = same_origin.patch_state_js(source)
    assert patched != source
    assert "if (env.SAME_ORIGIN) {\n    return sameOriginURL(url_str);" in patched
    # The helper exists before getBackendURL, and the rest of the file is untouched.
    assert patched.index("const sameOriginURL") < patched.index("export const getBackendURL")
    assert (
        patched.replace(same_origin._HELPER.lstrip("\n") + "\n", "").replace(same_origin._PATCH, "")
        == source
    )
    assert same_origin.patch_state_js(patched) == patched  # each compile re-applies it


def test_a_changed_template_fails_the_build_loudly() -> None:
    with pytest.raises(RuntimeError, match=r"cannot patch utils/state\.js"):
        same_origin.patch_state_js("export const getBackendURL = (u) => new URL(u);\n")


def test_production_env_json_has_paths_only(monkeypatch) -> None:
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    env = same_origin.SameOriginPlugin().update_env_json()
    assert env["SAME_ORIGIN"] is True
    assert env["EVENT"] == "/_event" and env["PING"] == "/ping" and env["UPLOAD"] == "/_upload"
    assert not any(str(v).startswith(("http", "ws")) for v in env.values())


def test_development_keeps_reflexs_addresses(monkeypatch) -> None:
    """`make run`: pages on :3000 and the backend on :8000 are two origins."""
    monkeypatch.setenv("REFLEX_ENV_MODE", "dev")
    assert same_origin.SameOriginPlugin().update_env_json() == {"SAME_ORIGIN": False}
