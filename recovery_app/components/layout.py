"""The frame every signed-in page shares: sidebar navigation and a header with the tenant,
the user and sign-out; demo sandboxes get a banner and a "view as" switch."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx

from recovery_app import routes
from recovery_app.components.backend import post_form
from recovery_app.states.session import NotificationRow, SessionState

# How often an open page refreshes the bell's unread count.
NOTIFICATION_POLL_MS = 30_000

# (label, route, icon, managers only)
NAV_ITEMS: tuple[tuple[str, str, str, bool], ...] = (
    ("Dashboard", routes.DASHBOARD, "layout-dashboard", False),
    ("Leads", routes.LEADS, "users", False),
    ("Silent leads", routes.SILENT, "bell-off", False),
    ("Inbox", routes.INBOX, "inbox", False),
    ("Approvals", routes.APPROVALS, "list-checks", False),
    ("Campaigns", routes.CAMPAIGNS, "megaphone", True),
    ("Scoring", routes.SCORING, "flame", False),
    ("ROI", routes.ROI, "trending-up", True),
    ("Settings", routes.SETTINGS, "settings", True),
)


def _nav_link(label: str, href: str, icon: str) -> rx.Component:
    path = rx.State.router.url.path
    active = (path == href) | path.startswith(href + "/")
    # The inbox shows how many conversations wait for an answer.
    badge = (
        rx.cond(
            SessionState.waiting_replies > 0,
            rx.badge(SessionState.waiting_replies, color_scheme="red", id="inbox-count"),
        )
        if href == routes.INBOX
        else rx.fragment()
    )
    return rx.link(
        rx.hstack(
            rx.icon(icon, size=18),
            rx.text(label, size="3"),
            badge,
            align="center",
            spacing="3",
            padding_x="0.75rem",
            padding_y="0.5rem",
            border_radius="var(--radius-3)",
            width="100%",
            background=rx.cond(active, rx.color("accent", 3), "transparent"),
            color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 11)),
            _hover={"background": rx.color("accent", 2)},
        ),
        href=href,
        underline="none",
        width="100%",
    )


def sidebar() -> rx.Component:
    links = [
        rx.cond(SessionState.is_manager, _nav_link(label, href, icon))
        if managers_only
        else _nav_link(label, href, icon)
        for label, href, icon, managers_only in NAV_ITEMS
    ]
    return rx.vstack(
        rx.hstack(
            rx.icon("life-buoy", size=22, color=rx.color("accent", 10)),
            rx.heading("Lead Recovery", size="4"),
            align="center",
            spacing="2",
            padding_x="0.75rem",
            padding_bottom="1rem",
        ),
        *links,
        width="15rem",
        min_width="15rem",
        height="100vh",
        position="sticky",
        top="0",
        padding="1rem",
        spacing="1",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        display=["none", "none", "flex"],
    )


def _tenant_label() -> rx.Component:
    switcher = rx.select.root(
        rx.select.trigger(variant="ghost", id="tenant-select"),
        rx.select.content(
            rx.foreach(
                SessionState.tenant_choices, lambda t: rx.select.item(t["label"], value=t["value"])
            )
        ),
        value=SessionState.tenant_value,
        on_change=SessionState.switch_tenant,
    )
    return rx.hstack(
        rx.icon("building-2", size=18, color=rx.color("gray", 10)),
        rx.cond(
            SessionState.is_admin,
            switcher,
            rx.text(SessionState.tenant_name, size="2", weight="medium"),
        ),
        align="center",
        spacing="2",
    )


def sign_out_form() -> rx.Component:
    return post_form(
        rx.button(
            rx.icon("log-out", size=14),
            "Sign out",
            variant="soft",
            size="1",
            type="submit",
            id="sign-out",
        ),
        path="/auth/logout",
    )


def _notification(row: NotificationRow) -> rx.Component:
    item = rx.vstack(
        rx.hstack(
            rx.text(row["title"], size="2", weight=rx.cond(row["read"], "regular", "bold")),
            rx.spacer(),
            rx.text(row["when"], size="1", color_scheme="gray", white_space="nowrap"),
            width="100%",
            align="baseline",
        ),
        rx.cond(row["body"] != "", rx.text(row["body"], size="1", color_scheme="gray")),
        spacing="0",
        width="100%",
        padding_y="0.4rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="notification",
    )
    return rx.cond(row["href"] != "", rx.link(item, href=row["href"], underline="none"), item)


def notification_bell() -> rx.Component:
    """New leads, offers to claim, replies and escalations, newest first; opening marks read."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.box(
                rx.icon_button(
                    rx.icon("bell", size=16),
                    variant="ghost",
                    on_click=SessionState.open_notifications,
                    aria_label="Notifications",
                    id="notifications",
                ),
                rx.cond(
                    SessionState.unread > 0,
                    rx.badge(
                        SessionState.unread.to_string(),
                        color_scheme="red",
                        variant="solid",
                        radius="full",
                        size="1",
                        position="absolute",
                        top="-0.5rem",
                        right="-0.6rem",
                        pointer_events="none",  # a click on the count opens the bell
                        id="unread-count",
                    ),
                ),
                position="relative",
            )
        ),
        rx.popover.content(
            rx.heading("Notifications", size="3", padding_bottom="0.25rem"),
            rx.cond(
                SessionState.notifications.length() > 0,
                rx.vstack(
                    rx.foreach(SessionState.notifications, _notification),
                    spacing="0",
                    max_height="24rem",
                    overflow_y="auto",
                ),
                rx.text("Nothing new.", size="2", color_scheme="gray"),
            ),
            width="22rem",
        ),
    )


def header() -> rx.Component:
    return rx.hstack(
        _tenant_label(),
        rx.spacer(),
        notification_bell(),
        # Invisible ticker: refreshes the unread count while the page stays open.
        rx.moment(
            interval=NOTIFICATION_POLL_MS,
            on_change=SessionState.refresh_notifications,
            display="none",
        ),
        rx.hstack(
            rx.icon("circle-user", size=18, color=rx.color("gray", 10)),
            rx.text(SessionState.user_name, size="2", weight="medium", id="user-name"),
            rx.badge(SessionState.user_role, variant="soft", id="user-role"),
            align="center",
            spacing="2",
            # On a phone the tenant, the bell and sign-out need the room.
            display=rx.breakpoints(initial="none", sm="flex"),
        ),
        sign_out_form(),
        rx.color_mode.button(variant="ghost", aria_label="Switch between light and dark"),
        width="100%",
        align="center",
        spacing=rx.breakpoints(initial="2", sm="4"),
        padding_x=rx.breakpoints(initial="0.75rem", sm="1.5rem"),
        padding_y="0.75rem",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def demo_banner() -> rx.Component:
    return rx.cond(
        SessionState.is_demo,
        rx.hstack(
            rx.icon("flask-conical", size=16),
            rx.text(
                "Demo sandbox: your own copy of the demo data, deleted after 24 hours. Nothing is "
                "really sent.",
                size="2",
            ),
            rx.spacer(),
            rx.text("View as", size="2"),
            rx.select.root(
                rx.select.trigger(variant="surface", id="view-as"),
                rx.select.content(
                    rx.foreach(
                        SessionState.demo_people,
                        lambda p: rx.select.item(p["label"], value=p["value"]),
                    )
                ),
                value=SessionState.viewing_as,
                on_change=SessionState.view_demo_as,
                size="1",
            ),
            width="100%",
            align="center",
            spacing="2",
            padding_x="1.5rem",
            padding_y="0.4rem",
            background=rx.color("amber", 3),
            color=rx.color("amber", 11),
            id="demo-banner",
        ),
    )


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the app: its component and how to register it."""

    component: Callable[[], rx.Component]
    route: str
    title: str
    on_load: Any = None


# Filled by @page at import time; recovery_app.py adds each to the app exactly once (Reflex's own
# @rx.page registry is re-applied in production workers and warns about every page).
PAGES: list[Page] = []


def page(
    route: str, title: str, on_load: Any = None
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """Declare `content` as a signed-in page at `route`, inside the shared frame. Nothing of the
    page shows until its on_load has confirmed the session."""

    def decorator(content: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def framed() -> rx.Component:
            return rx.cond(
                SessionState.signed_in,
                rx.hstack(
                    sidebar(),
                    rx.vstack(
                        demo_banner(),
                        header(),
                        rx.box(content(), width="100%", padding="1.5rem", max_width="1400px"),
                        width="100%",
                        spacing="0",
                    ),
                    spacing="0",
                    width="100%",
                    min_height="100vh",
                ),
                rx.center(rx.spinner(size="3"), height="100vh"),
            )

        framed.__name__ = content.__name__
        PAGES.append(Page(framed, route, f"{title} - Lead Recovery", on_load))
        return framed

    return decorator


def public_page(route: str, title: str, on_load: Any = None):
    """Declare a page that needs no session (sign-in, the demo entry)."""

    def decorator(content: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        PAGES.append(Page(content, route, f"{title} - Lead Recovery", on_load))
        return content

    return decorator
