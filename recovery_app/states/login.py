"""The sign-in page: shows why the visitor is here and where they go after."""

from datetime import UTC, datetime

import reflex as rx

from recovery_app.domain.accounts import auth
from recovery_app.domain.ids import is_id
from recovery_app.errors import Unauthenticated
from recovery_app.routes import safe_next
from recovery_app.settings import get_settings
from recovery_app.states.db import in_session
from recovery_app.states.session import session_token


class LoginState(rx.State):
    message: str = ""
    is_error: bool = False
    next_path: str = ""  # empty until `load`: the server then takes the page's own ?next=
    demo_enabled: bool = False

    @rx.event
    async def load(self):
        params = self.router.url.query_parameters
        self.next_path = safe_next(params.get("next"))
        code = params.get("error", "")
        wait = params.get("wait", "0")
        self.message = (
            auth.sign_in_message(code, wait_minutes=int(wait) if is_id(wait) else 0) if code else ""
        )
        self.is_error = code not in ("", "signed_out", "sign_in")
        self.demo_enabled = get_settings().demo_mode
        token = session_token(self.router.headers.cookie)
        if token and code != "signed_out":
            now = datetime.now(UTC)
            try:
                await in_session(lambda s: auth.resolve_session(s, token=token, now=now))
            except Unauthenticated:
                return None
            return rx.redirect(self.next_path)
        return None
