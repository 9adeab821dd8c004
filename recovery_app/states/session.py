"""Who is signed in, for every page.

The session token lives in an HttpOnly cookie set by /api/v1/auth/login. Reflex keeps request
cookies on the server (they are never serialised to the browser), so each event handler reads
the token from the websocket's headers and resolves it against the database: a revoked or
expired session stops working on the next click, and nothing in frontend state can forge one.
"""

import time
from datetime import UTC, datetime
from http.cookies import CookieError, SimpleCookie
from typing import TypedDict
from urllib.parse import quote

import reflex as rx
from sqlmodel import Session

from recovery_app import routes
from recovery_app.demo import sandbox
from recovery_app.domain.accounts import auth
from recovery_app.domain.accounts import repository as accounts
from recovery_app.domain.accounts.schemas import Viewer
from recovery_app.domain.ids import is_id
from recovery_app.domain.leads import inbox
from recovery_app.domain.notifications import service as notifications
from recovery_app.errors import Forbidden, Unauthenticated
from recovery_app.states.db import in_session
from recovery_app.states.formatting import relative_time

# How stale the viewer a page's timer uses may be: revoking a session reaches open pages
# within this, and a page ticking every few seconds costs no session lookup in between.
VIEWER_RECHECK_SECONDS = 30.0


class SignInRequired(Unauthenticated):
    """Raised from an event handler when there is no valid session: the app's exception
    handler sends the browser to the sign-in page and back to `next_path` after."""

    def __init__(self, message: str, *, reason: str, next_path: str):
        super().__init__(message, reason=reason)
        self.next_path = next_path

    @property
    def login_url(self) -> str:
        return f"{routes.LOGIN}?error={self.reason}&next={quote(self.next_path, safe='')}"


class PageForbidden(Forbidden):
    """A signed-in user opened a page their role may not see: toast and go elsewhere."""

    def __init__(self, message: str, *, redirect_to: str = routes.LEADS):
        super().__init__(message)
        self.redirect_to = redirect_to


class Choice(TypedDict):
    value: str
    label: str


class NotificationRow(TypedDict):
    id: int
    kind: str
    title: str
    body: str
    href: str
    when: str
    read: bool


def session_token(cookie_header: str) -> str | None:
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header or "")
    except CookieError:
        return None
    morsel = cookies.get(auth.SESSION_COOKIE)
    return morsel.value if morsel else None


class SessionState(rx.State):
    """The frame's view of the signed-in user. Page states inherit from it and call
    `await self._viewer()` at the top of every handler that reads or changes data."""

    signed_in: bool = False
    user_name: str = ""
    user_role: str = ""
    tenant_name: str = ""
    tenant_value: str = ""
    is_demo: bool = False
    tenant_choices: list[Choice] = []
    demo_people: list[Choice] = []
    viewing_as: str = ""
    unread: int = 0
    # Conversations whose last word is the lead's (the sidebar's Inbox badge).
    waiting_replies: int = 0
    # The viewer the last full resolve found, for the pages' timers (`_recent_viewer`).
    _viewer_cache: Viewer | None = None
    _viewer_checked_at: float = 0.0
    notifications: list[NotificationRow] = []

    @rx.var
    def is_manager(self) -> bool:
        return self.user_role in ("manager", "admin")

    @rx.var
    def is_admin(self) -> bool:
        return self.user_role == "admin"

    def _current_path(self) -> str:
        return self.router.url.path or routes.LEADS

    async def _viewer(self) -> Viewer:
        """The signed-in viewer, or SignInRequired (which sends the browser to sign in)."""
        token = session_token(self.router.headers.cookie)
        now = datetime.now(UTC)

        def resolve(
            session: Session,
        ) -> tuple[Viewer, str, list[Choice], list[Choice], tuple[int, int]]:
            viewer = auth.resolve_session(session, token=token, now=now)
            tenant = accounts.get_tenant(session, viewer.tenant_id)
            tenants: list[Choice] = []
            if viewer.is_admin:
                tenants = [
                    Choice(value=str(t.id), label=t.name) for t in accounts.list_tenants(session)
                ]
            people = [
                Choice(value=str(p.id), label=f"{p.name} ({p.role})")
                for p in sandbox.demo_people(session, viewer=viewer)
            ]
            unread = notifications.unread_count(session, viewer=viewer)
            waiting = inbox.waiting_count(session, viewer=viewer)
            return viewer, tenant.name if tenant else "", tenants, people, (unread, waiting)

        try:
            viewer, tenant_name, tenants, people, (unread, waiting) = await in_session(resolve)
        except Unauthenticated as exc:
            # Expired, signed out elsewhere, deactivated: whoever signs in next in this tab
            # must not be sent what this one's pages held.
            await self._forget_tab()
            raise SignInRequired(
                exc.message, reason=exc.reason, next_path=self._current_path()
            ) from None
        self.signed_in = True
        self.user_name = viewer.name
        self.user_role = str(viewer.role)
        self.tenant_name = tenant_name
        self.tenant_value = str(viewer.tenant_id)
        self.is_demo = viewer.is_demo
        self.tenant_choices = tenants
        self.demo_people = people
        self.viewing_as = str(viewer.user_id or "")
        self.unread = unread
        self.waiting_replies = waiting
        self._viewer_cache, self._viewer_checked_at = viewer, time.monotonic()
        return viewer

    async def _forget_tab(self) -> None:
        """Reset every page state of this tab (this state and all below it) to its defaults,
        on the server: the next frames carry none of what the previous viewer saw. Sign-in
        and sign-out start the tab on a new Reflex token anyway (assets/tab_session.js);
        this covers what happens without a page load - an expired or revoked session, a
        deactivated user, an admin changing office."""
        frame = self if type(self) is SessionState else await self.get_state(SessionState)
        pending = list(SessionState.get_substates())
        while pending:  # load them all first: Redis keeps each substate apart
            state_cls = pending.pop()
            await frame.get_state(state_cls)
            pending.extend(state_cls.get_substates())
        frame.reset()
        self._viewer_cache, self._viewer_checked_at = None, 0.0

    async def _recent_viewer(self) -> Viewer:
        """For the timers of open pages: the viewer resolved at most `VIEWER_RECHECK_SECONDS`
        ago, so a page ticking every few seconds is not a session lookup each time; older
        than that (or never resolved), resolved again - a revoked session stops here."""
        cached = self._viewer_cache
        if cached is None or time.monotonic() - self._viewer_checked_at > VIEWER_RECHECK_SECONDS:
            return await self._viewer()
        return cached

    async def _manager_viewer(self, page: str) -> Viewer:
        """The viewer if they manage the tenant; otherwise PageForbidden for `page`."""
        viewer = await self._viewer()
        if not viewer.is_manager:
            raise PageForbidden(f"Only managers can open {page}.")
        return viewer

    @rx.event
    async def load_frame(self):
        """on_load of pages that need only the signed-in frame."""
        await self._viewer()

    @rx.event
    async def load_manager_frame(self):
        """on_load of frame-only pages that are for managers."""
        await self._manager_viewer("this page")

    @rx.event
    async def refresh_notifications(self):
        """A timer on every page: keeps the bell's unread count current."""
        await self._viewer()

    @rx.event
    async def open_notifications(self):
        """Opening the bell shows the latest notifications and marks them read."""
        viewer, now = await self._viewer(), datetime.now(UTC)

        def read(session: Session) -> list[notifications.NotificationView]:
            latest = notifications.recent(session, viewer=viewer)
            notifications.mark_all_read(session, viewer=viewer, now=now)
            return latest

        latest = await in_session(read)
        self.notifications = [
            NotificationRow(
                id=n.id,
                kind=n.kind,
                title=n.title,
                body=n.body,
                href=routes.lead_detail(n.lead_id) if n.lead_id else "",
                when=relative_time(n.created_at, now),
                read=n.read,
            )
            for n in latest
        ]
        self.unread = 0

    @rx.event
    async def switch_tenant(self, tenant_id: str):
        """Admins: act in another tenant (the choice is stored on the session)."""
        viewer = await self._viewer()
        if not is_id(tenant_id):
            return
        await in_session(
            lambda s: auth.switch_session_tenant(s, viewer=viewer, tenant_id=int(tenant_id))
        )
        return await self._reopen_page()

    @rx.event
    async def view_demo_as(self, user_id: str):
        """Demo sandboxes: look through another sandbox user's eyes (e.g. an agent's)."""
        viewer = await self._viewer()
        if not is_id(user_id):
            return
        await in_session(lambda s: sandbox.switch_demo_user(s, viewer=viewer, user_id=int(user_id)))
        return await self._reopen_page()

    async def _reopen_page(self):
        """After the session changed whose data it shows (another office, another demo
        person): forget every page state, then open the current page again, which loads it
        afresh (a navigation, not a reload: nothing is evaluated in the browser)."""
        path = self.router.url.path or routes.LEADS
        query = self.router.url.query
        await self._forget_tab()
        return rx.redirect(f"{path}?{query}" if query else path)
