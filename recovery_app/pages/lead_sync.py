"""The lead page's GoHighLevel card: what was written back, its answer, and Resync."""

import reflex as rx

from recovery_app.states.lead_sync import LeadSyncState as Y
from recovery_app.states.lead_sync import SyncRow


def _row(row: SyncRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["what"]),
        rx.table.cell(row["status"]),
        rx.table.cell(row["when"]),
        rx.table.cell(rx.text(row["answer"], size="1", color_scheme="gray")),
        class_name="sync-row",
    )


def sync_log() -> rx.Component:
    return rx.cond(
        Y.syncing | (Y.rows.length() > 0),
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("GoHighLevel sync", size="3"),
                    rx.spacer(),
                    rx.button(
                        "Resync",
                        variant="soft",
                        size="1",
                        on_click=Y.resync,
                        loading=Y.resyncing,
                        disabled=~Y.syncing,
                        id="ghl-resync",
                    ),
                    width="100%",
                    align="center",
                ),
                rx.cond(
                    Y.rows.length() > 0,
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *(
                                    rx.table.column_header_cell(h)
                                    for h in ("Write", "Status", "When", "GoHighLevel's answer")
                                )
                            )
                        ),
                        rx.table.body(rx.foreach(Y.rows, _row)),
                        size="1",
                        width="100%",
                    ),
                    rx.text("Nothing written back yet.", size="2", color_scheme="gray"),
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
            id="ghl-sync-log",
        ),
    )
