"""One-click unsubscribe links: /unsubscribe/<token>, the token naming tenant and lead and
signed with SECRET_KEY (HMAC-SHA256), so nobody can unsubscribe someone else by guessing ids."""

import base64
import hashlib
import hmac

from recovery_app.settings import get_settings

PREFIX = "u1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str) -> str:
    key = get_settings().resolved_secret_key().encode()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:20])


def make_token(*, tenant_id: int, lead_id: int) -> str:
    payload = f"{PREFIX}.{tenant_id}.{lead_id}"
    return f"{_b64(payload.encode())}.{_signature(payload)}"


def read_token(token: str) -> tuple[int, int] | None:
    """(tenant_id, lead_id) for a genuine token, None for anything else."""
    try:
        encoded, signature = token.split(".", 1)
        payload = _unb64(encoded).decode()
        prefix, tenant_id, lead_id = payload.split(".")
    except (ValueError, UnicodeDecodeError):
        return None
    if prefix != PREFIX or not hmac.compare_digest(signature, _signature(payload)):
        return None
    return int(tenant_id), int(lead_id)


def unsubscribe_url(*, tenant_id: int, lead_id: int) -> str:
    return f"{get_settings().app_base_url}/unsubscribe/{make_token(tenant_id=tenant_id, lead_id=lead_id)}"
