"""Settings (managers): the index, the team, API keys and the audit log."""

import reflex as rx

from recovery_app import routes
from recovery_app.components.layout import page
from recovery_app.states.api_keys import ApiKeysState, KeyRow
from recovery_app.states.audit import ALL, AuditRow, AuditState
from recovery_app.states.session import SessionState
from recovery_app.states.settings import JobRow, SettingsState
from recovery_app.states.team import MemberRow, TeamState

ROLE_ITEMS = [rx.select.item("Agent", value="agent"), rx.select.item("Manager", value="manager")]


def _section(title: str, href: str, icon: str, text: str) -> rx.Component:
    return rx.link(
        rx.card(
            rx.hstack(
                rx.icon(icon, size=22),
                rx.vstack(
                    rx.heading(title, size="3"),
                    rx.text(text, size="2", color_scheme="gray"),
                    spacing="1",
                ),
                align="center",
                spacing="3",
            ),
            width="100%",
        ),
        href=href,
        underline="none",
        width="100%",
    )


def _switch_card(title: str, text: str, switch: rx.Component) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.heading(title, size="3"),
                rx.text(text, size="2", color_scheme="gray"),
                spacing="1",
            ),
            rx.spacer(),
            switch,
            align="center",
            width="100%",
        ),
        width="100%",
    )


@page(route=routes.SETTINGS, title="Settings", on_load=SettingsState.load)
def settings_page() -> rx.Component:
    return rx.vstack(
        rx.heading("Settings", size="6"),
        _switch_card(
            "Unassigned leads",
            "Agents see (and can claim) leads nobody is assigned to yet.",
            rx.switch(
                checked=SettingsState.agent_pool_visible,
                on_change=SettingsState.set_agent_pool_visible,
                id="agent-pool",
                aria_label="Agents see unassigned leads",
            ),
        ),
        _switch_card(
            "Canceled appointments",
            "When a lead cancels an appointment booked through Calendly, the nurture the "
            "booking stopped picks up where it left off.",
            rx.switch(
                checked=SettingsState.resume_nurture_on_cancel,
                on_change=SettingsState.set_resume_nurture_on_cancel,
                id="resume-nurture-on-cancel",
                aria_label="Resume nurture when an appointment is canceled",
            ),
        ),
        _switch_card(
            "An email opt-out stops marketing texts too",
            "From 31 January 2027 (the FCC's revoke-all rule) a person who opts out on one "
            "channel has opted out of all your marketing. Turn this off only if your counsel "
            "says texts may go on.",
            rx.switch(
                checked=SettingsState.revoke_all_sms,
                on_change=SettingsState.set_revoke_all_sms,
                id="revoke-all-sms",
                aria_label="An email opt-out also stops marketing texts",
            ),
        ),
        _switch_card(
            "A text opt-out stops marketing email too",
            "The same rule the other way: STOP to a text ends marketing email as well.",
            rx.switch(
                checked=SettingsState.revoke_all_email,
                on_change=SettingsState.set_revoke_all_email,
                id="revoke-all-email",
                aria_label="A text opt-out also stops marketing email",
            ),
        ),
        _section(
            "Office",
            routes.OFFICE,
            "building-2",
            "Time zone, quiet and business hours, sender, postal address, silence thresholds, "
            "attribution window, prices; integrations and webhook addresses.",
        ),
        _section(
            "Lead handling",
            routes.LEAD_HANDLING,
            "route",
            "Routing, escalation, first-response texts and emails, scoring weights.",
        ),
        _section(
            "Behavioral triggers",
            routes.TRIGGERS,
            "zap",
            "Rules that raise scores, alert agents or change the nurture as leads act.",
        ),
        _section(
            "Team",
            routes.TEAM,
            "users",
            "Add people, set roles, capacity, hours and booking links, deactivate.",
        ),
        _section(
            "API keys", routes.API_KEYS, "key-round", "Keys for the REST API and lead webhooks."
        ),
        _section("Audit log", routes.AUDIT, "scroll-text", "Who changed what, and when."),
        rx.cond(
            SessionState.is_admin,
            _section(
                "Texts no office fits",
                routes.UNMATCHED,
                "message-circle-question",
                "Texts to a shared number no office could be found for: assign each.",
            ),
        ),
        _jobs_card(),
        spacing="3",
        max_width="64rem",
    )


def _job_row(row: JobRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(row["name"], weight="medium"),
            rx.text(row["description"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(row["every"]),
        rx.table.cell(row["last_run"]),
        rx.table.cell(row["duration"]),
        rx.table.cell(rx.text(row["processed"], size="1")),
        rx.table.cell(rx.text(row["error"], size="1", color_scheme="red")),
        class_name="job-row",
    )


def _jobs_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Scheduled jobs", size="3"),
            rx.text(
                rx.cond(
                    SettingsState.scheduler_leader != "",
                    "Leader: " + SettingsState.scheduler_leader,
                    "No scheduler holds the lease right now (SCHEDULER=off and no `recovery scheduler` running?).",
                ),
                size="2",
                color_scheme="gray",
                id="scheduler-leader",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(h)
                            for h in ("Job", "Every", "Last run", "Took", "Processed", "Error")
                        )
                    )
                ),
                rx.table.body(rx.foreach(SettingsState.job_rows, _job_row)),
                size="1",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


# ---------------------------------------------------------------- team
def _password_dialog(password: rx.Var[str], who: rx.Var[str], on_close) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Temporary password"),
            rx.text(
                "Give this to ",
                who,
                " now: it is shown only once. They can sign in with it.",
                size="2",
            ),
            rx.code(password, size="4", id="revealed-password", margin_y="1rem"),
            rx.hstack(rx.button("Done", on_click=on_close), justify="end"),
        ),
        open=password != "",
    )


def _dialog_buttons(submit: str, submit_id: str | None = None, on_cancel=None) -> rx.Component:
    """Cancel and submit at the foot of a dialog's form."""
    cancel_props = {"on_click": on_cancel} if on_cancel is not None else {}
    submit_props = {"id": submit_id} if submit_id else {}
    return rx.hstack(
        rx.dialog.close(
            rx.button("Cancel", variant="soft", color_scheme="gray", type="button", **cancel_props)
        ),
        rx.dialog.close(rx.button(submit, type="submit", **submit_props)),
        justify="end",
        width="100%",
    )


SLACK_PLACEHOLDER = "https://hooks.slack.com/services/..."


def _member_fields(defaults: dict | None = None) -> list[rx.Component]:
    d = defaults or {}
    return [
        rx.text("Capacity (open leads)", size="2"),
        rx.input(
            name="capacity", type="number", min=0, max=1000, default_value=d.get("capacity", "50")
        ),
        rx.text("Specialties (comma-separated)", size="2"),
        rx.input(name="specialties", max_length=400, default_value=d.get("specialties", "")),
        rx.text("Time zone", size="2"),
        rx.input(
            name="timezone",
            placeholder="America/Chicago",
            max_length=64,
            default_value=d.get("timezone", ""),
        ),
        rx.text("Weekday hours", size="2"),
        rx.hstack(
            rx.input(name="start", type="time", default_value=d.get("start", "")),
            rx.input(name="end", type="time", default_value=d.get("end", "")),
        ),
        rx.text("Booking link (the {{booking_link}} in their leads' messages)", size="2"),
        rx.input(
            name="booking_url",
            type="url",
            placeholder="https://calendly.com/name/30min",
            max_length=500,
            default_value=d.get("booking_url", ""),
            aria_label="Booking link",
        ),
        rx.text("Own Slack webhook (alerts about their leads)", size="2"),
        rx.input(
            name="slack_webhook_url",
            type="url",
            placeholder=d.get("slack_webhook", SLACK_PLACEHOLDER),
            max_length=500,
            aria_label="Agent's Slack incoming webhook URL (empty keeps the current one)",
        ),
        rx.checkbox("Remove their Slack webhook", name="slack_remove"),
    ]


def _add_member_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("user-plus", size=16), "Add member", id="add-member")),
        rx.dialog.content(
            rx.dialog.title("Add a team member"),
            rx.form(
                rx.vstack(
                    rx.text("Email", size="2"),
                    rx.input(
                        name="email", type="email", required=True, max_length=254, id="member-email"
                    ),
                    rx.text("Full name", size="2"),
                    rx.input(name="full_name", required=True, max_length=200, id="member-name"),
                    rx.text("Role", size="2"),
                    rx.select.root(
                        rx.select.trigger(),
                        rx.select.content(*ROLE_ITEMS),
                        name="role",
                        default_value="agent",
                    ),
                    *_member_fields(),
                    _dialog_buttons("Add", submit_id="member-submit"),
                    spacing="2",
                ),
                on_submit=TeamState.add_member,
                reset_on_submit=True,
            ),
        ),
    )


def _edit_member_dialog(member: MemberRow) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button("Edit", size="1", variant="soft", on_click=TeamState.start_edit(member["id"]))
        ),
        rx.dialog.content(
            rx.dialog.title("Edit ", member["name"]),
            rx.form(
                rx.vstack(
                    rx.text("Full name", size="2"),
                    rx.input(name="full_name", default_value=member["name"], max_length=200),
                    rx.text("Role", size="2"),
                    rx.select.root(
                        rx.select.trigger(),
                        rx.select.content(*ROLE_ITEMS),
                        name="role",
                        default_value=member["role"],
                    ),
                    *_member_fields(
                        {
                            "capacity": member["capacity"].to_string(),
                            "specialties": member["specialties"],
                            "timezone": member["timezone"],
                            "booking_url": member["booking_url"],
                            "slack_webhook": rx.cond(
                                member["slack_webhook"] != "",
                                member["slack_webhook"],
                                SLACK_PLACEHOLDER,
                            ),
                        }
                    ),
                    _dialog_buttons("Save", on_cancel=TeamState.stop_edit),
                    spacing="2",
                ),
                on_submit=TeamState.save_member,
            ),
        ),
    )


def _member_row(member: MemberRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(member["name"], weight="medium"),
                rx.text(member["email"], size="1", color_scheme="gray"),
                rx.cond(
                    member["booking_url"] != "",
                    rx.text(member["booking_url"], size="1", color_scheme="gray"),
                ),
                rx.cond(
                    member["slack_webhook"] != "",
                    rx.text("Slack: ", member["slack_webhook"], size="1", color_scheme="gray"),
                ),
                rx.cond(
                    member["slack_error"] != "",
                    rx.text(
                        "Slack needs attention: ",
                        member["slack_error"],
                        size="1",
                        color_scheme="red",
                    ),
                ),
                spacing="0",
            )
        ),
        rx.table.cell(rx.badge(member["role"], variant="soft")),
        rx.table.cell(member["capacity"]),
        rx.table.cell(member["specialties"]),
        rx.table.cell(member["timezone"], rx.text(member["hours"], size="1", color_scheme="gray")),
        rx.table.cell(
            rx.cond(
                member["active"], member["last_login"], rx.badge("deactivated", color_scheme="gray")
            )
        ),
        rx.table.cell(
            rx.hstack(
                _edit_member_dialog(member),
                rx.cond(
                    member["active"],
                    rx.button(
                        "Deactivate",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=TeamState.set_active(member["id"], False),
                    ),
                    rx.button(
                        "Reactivate",
                        size="1",
                        variant="soft",
                        on_click=TeamState.set_active(member["id"], True),
                    ),
                ),
                rx.button(
                    "Reset password",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=TeamState.reset_password(member["id"]),
                ),
                spacing="2",
            )
        ),
        class_name="member-row",
    )


@page(route=routes.TEAM, title="Team", on_load=TeamState.load)
def team_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.heading("Team", size="6"), rx.spacer(), _add_member_dialog(), width="100%"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(
                        rx.table.column_header_cell(h)
                        for h in (
                            "Person",
                            "Role",
                            "Capacity",
                            "Specialties",
                            "Time zone / hours",
                            "Last sign-in",
                            "",
                        )
                    )
                )
            ),
            rx.table.body(rx.foreach(TeamState.members, _member_row)),
            variant="surface",
            size="1",
            width="100%",
        ),
        _password_dialog(
            TeamState.revealed_password, TeamState.revealed_for, TeamState.forget_password
        ),
        spacing="4",
        width="100%",
    )


# ---------------------------------------------------------------- API keys
def _create_key_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("key-round", size=16), "Create key", id="create-key")),
        rx.dialog.content(
            rx.dialog.title("Create an API key"),
            rx.form(
                rx.vstack(
                    rx.text("Name", size="2"),
                    rx.input(
                        name="name", placeholder="e.g. website form", max_length=120, id="key-name"
                    ),
                    rx.text("Role", size="2"),
                    rx.select.root(
                        rx.select.trigger(),
                        rx.select.content(*ROLE_ITEMS),
                        name="role",
                        default_value="manager",
                    ),
                    rx.text("Agent (for agent keys)", size="2"),
                    rx.select.root(
                        rx.select.trigger(placeholder="Choose an agent"),
                        rx.select.content(
                            rx.foreach(
                                ApiKeysState.agent_choices,
                                lambda c: rx.select.item(c["label"], value=c["value"]),
                            )
                        ),
                        name="user_id",
                    ),
                    _dialog_buttons("Create", submit_id="key-submit"),
                    spacing="2",
                ),
                on_submit=ApiKeysState.create,
                reset_on_submit=True,
            ),
        ),
    )


def _key_row(key: KeyRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(key["prefix"])),
        rx.table.cell(key["name"]),
        rx.table.cell(
            key["role"],
            rx.cond(key["agent"] != "", rx.text(key["agent"], size="1", color_scheme="gray")),
        ),
        rx.table.cell(key["created"]),
        rx.table.cell(key["last_used"]),
        rx.table.cell(
            rx.cond(
                key["revoked"],
                rx.badge("revoked", color_scheme="gray"),
                rx.button(
                    "Revoke",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=ApiKeysState.revoke(key["id"]),
                ),
            )
        ),
        class_name="key-row",
    )


@page(route=routes.API_KEYS, title="API keys", on_load=ApiKeysState.load)
def api_keys_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("API keys", size="6"), rx.spacer(), _create_key_dialog(), width="100%"
        ),
        rx.text(
            "Send a key as Authorization: Bearer <key>. Agent keys see only that agent's leads.",
            size="2",
            color_scheme="gray",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(
                        rx.table.column_header_cell(h)
                        for h in ("Prefix", "Name", "Role", "Created", "Last used", "")
                    )
                )
            ),
            rx.table.body(rx.foreach(ApiKeysState.keys, _key_row)),
            variant="surface",
            size="1",
            width="100%",
        ),
        rx.dialog.root(
            rx.dialog.content(
                rx.dialog.title("Your new API key"),
                rx.text("Copy it now: it is shown only once and stored only as a hash.", size="2"),
                rx.code(
                    ApiKeysState.new_key,
                    id="new-key",
                    margin_y="1rem",
                    style={"word_break": "break-all"},
                ),
                rx.hstack(rx.button("Done", on_click=ApiKeysState.forget_key), justify="end"),
            ),
            open=ApiKeysState.new_key != "",
        ),
        spacing="4",
        width="100%",
    )


# ---------------------------------------------------------------- audit log
def _audit_row(row: AuditRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["when"]),
        rx.table.cell(row["actor"]),
        rx.table.cell(rx.code(row["action"])),
        rx.table.cell(row["entity"]),
        rx.table.cell(rx.text(row["change"], size="1")),
        class_name="audit-row",
    )


@page(route=routes.AUDIT, title="Audit log", on_load=AuditState.load)
def audit_page() -> rx.Component:
    return rx.vstack(
        rx.heading("Audit log", size="6"),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(placeholder="Action"),
                rx.select.content(
                    rx.select.item("All actions", value=ALL),
                    rx.foreach(
                        AuditState.action_choices,
                        lambda c: rx.select.item(c["label"], value=c["value"]),
                    ),
                ),
                value=AuditState.action,
                on_change=AuditState.set_action,
            ),
            rx.select.root(
                rx.select.trigger(placeholder="Who"),
                rx.select.content(
                    rx.select.item("Everyone", value=ALL),
                    rx.foreach(
                        AuditState.actor_choices,
                        lambda c: rx.select.item(c["label"], value=c["value"]),
                    ),
                ),
                value=AuditState.actor,
                on_change=AuditState.set_actor,
            ),
            rx.select.root(
                rx.select.trigger(),
                rx.select.content(
                    rx.select.item("Last 24 hours", value="24h"),
                    rx.select.item("Last 7 days", value="7d"),
                    rx.select.item("Last 30 days", value="30d"),
                    rx.select.item("All time", value=ALL),
                ),
                value=AuditState.period,
                on_change=AuditState.set_period,
            ),
            spacing="3",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(
                        rx.table.column_header_cell(h)
                        for h in ("When (UTC)", "Who", "Action", "What", "Change")
                    )
                )
            ),
            rx.table.body(rx.foreach(AuditState.rows, _audit_row)),
            variant="surface",
            size="1",
            width="100%",
        ),
        rx.hstack(
            rx.text(AuditState.total.to_string(), " entries", size="2", color_scheme="gray"),
            rx.spacer(),
            rx.button(
                "Previous",
                variant="soft",
                disabled=AuditState.page <= 1,
                on_click=AuditState.go_to_page(AuditState.page - 1),
            ),
            rx.text(
                "Page ",
                AuditState.page.to_string(),
                " of ",
                AuditState.page_count.to_string(),
                size="2",
            ),
            rx.button(
                "Next",
                variant="soft",
                disabled=AuditState.page >= AuditState.page_count,
                on_click=AuditState.go_to_page(AuditState.page + 1),
            ),
            width="100%",
            align="center",
        ),
        spacing="4",
        width="100%",
    )
