"""Running totals for the manager pages (bench/manager.py at a million leads): sends and replies
per office, UTC hour, channel and lead time zone (the reply-rate grid and send-time
optimisation); each campaign's message figures (the campaign list); each office's open-lead
factor points per owner (what the factors add). Tags join the heatmap's covering index, so an
audience rule with a tag is counted from the index.

Each total has a log of changes written by triggers on `messages` and `leads` in the statement
that makes the change (statement-level with transition tables on PostgreSQL, so a bulk
rescoring of 2,000 leads writes one grouped insert; row-level on SQLite). Concurrent writers
only append, so no intake waits on another's counter row; the hourly rollup job folds the log
into the totals. The totals are backfilled here from the rows as they are: on PostgreSQL the
triggers exist (and lock out writers) before the backfill reads, so nothing falls between.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CLOSED = "('converted', 'lost')"
DELIVERED = "('delivered', 'opened', 'clicked', 'replied')"
# Columns whose change can move a message or a lead between totals (UPDATE triggers skip the
# rest: a delivery receipt that only stamps `updated_at` writes nothing).
MESSAGE_COLUMNS = (
    "tenant_id",
    "lead_id",
    "campaign_id",
    "direction",
    "channel",
    "sent_at",
    "delivered_at",
    "status",
    "replied_at",
    "cost_microdollars",
)
FACTOR_COLUMNS = ("tenant_id", "assigned_user_id", "status", "score_factors")
ZONE_COLUMNS = ("tenant_id", "timezone")
HEAT_COLUMNS = [
    "score",
    "source",
    "temperature",
    "assigned_user_id",
    "last_outbound_at",
    "last_inbound_at",
    "phone",
    "email",
    "opted_out_sms",
    "opted_out_email",
]


def _flag(condition: str, sign: str) -> str:
    return f"{sign} * (CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _hour(dialect: str, column: str) -> str:
    """Hours since the epoch of a UTC moment (an integer: no time zone setting can shift it)."""
    if dialect == "postgresql":
        return f"floor(extract(epoch FROM {column}) / 3600)::bigint"
    return f"CAST(strftime('%s', {column}) AS INTEGER) / 3600"


def _reply_rows(dialect: str, rows: str, sign: str) -> str:
    """Outbound sent messages of `rows` as reply-hour cells (the lead's zone as it is now)."""
    return f"""
        SELECT m.tenant_id AS tenant_id, {_hour(dialect, "m.sent_at")} AS hour,
               m.channel AS channel, coalesce(l.timezone, '') AS timezone,
               {sign} AS sends, {_flag("m.replied_at IS NOT NULL", sign)} AS replies
        FROM {rows} m JOIN leads l ON l.id = m.lead_id AND l.tenant_id = m.tenant_id
        WHERE m.direction = 'outbound' AND m.sent_at IS NOT NULL"""


def _zone_rows(dialect: str, rows: str, sign: str) -> str:
    """Every outbound sent message of the leads in `rows`, in the zone `rows` gives them."""
    return f"""
        SELECT m.tenant_id AS tenant_id, {_hour(dialect, "m.sent_at")} AS hour,
               m.channel AS channel, coalesce(r.timezone, '') AS timezone,
               {sign} AS sends, {_flag("m.replied_at IS NOT NULL", sign)} AS replies
        FROM {rows} r JOIN messages m ON m.lead_id = r.id AND m.tenant_id = r.tenant_id
        WHERE m.direction = 'outbound' AND m.sent_at IS NOT NULL"""


def _campaign_rows(rows: str, sign: str) -> str:
    delivered = f"m.delivered_at IS NOT NULL OR m.status IN {DELIVERED}"
    return f"""
        SELECT m.tenant_id AS tenant_id, m.campaign_id AS campaign_id, {sign} AS messages,
               {_flag("m.sent_at IS NOT NULL", sign)} AS sent,
               {_flag(delivered, sign)} AS delivered,
               {_flag("m.replied_at IS NOT NULL", sign)} AS replied,
               {sign} * coalesce(m.cost_microdollars, 0) AS cost_microdollars
        FROM {rows} m
        WHERE m.direction = 'outbound' AND m.campaign_id IS NOT NULL"""


def _factor_rows(dialect: str, rows: str, sign: str) -> str:
    """One row per element of each open lead's stored factors."""
    if dialect == "postgresql":
        elements = (
            "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(r.score_factors)"
            " = 'array' THEN r.score_factors ELSE '[]'::jsonb END) AS f"
        )
        factor, points = "f ->> 'factor'", "(f ->> 'points')::numeric"
        # The live query casts points to numeric; a factor's points are always a number.
        points = f"CASE WHEN jsonb_typeof(f -> 'points') = 'number' THEN {points} END"
    else:
        elements = ", json_each(r.score_factors) AS f"
        factor, points = "json_extract(f.value, '$.factor')", "json_extract(f.value, '$.points')"
    return f"""
        SELECT r.tenant_id AS tenant_id, coalesce(r.assigned_user_id, 0) AS owner_id,
               coalesce({factor}, '') AS factor, {sign} AS leads,
               {_flag(f"{points} IS NOT NULL", sign)} AS scored,
               {sign} * coalesce({points}, 0) AS points
        FROM {rows} r {elements}
        WHERE r.status NOT IN {CLOSED}"""


TOTALS = {
    # table: (key columns, value columns)
    "reply_hour": (("tenant_id", "hour", "channel", "timezone"), ("sends", "replies")),
    "campaign_message": (
        ("tenant_id", "campaign_id"),
        ("messages", "sent", "delivered", "replied", "cost_microdollars"),
    ),
    "lead_factor": (("tenant_id", "owner_id", "factor"), ("leads", "scored", "points")),
}


def _insert_grouped(table: str, selects: list[str]) -> str:
    """Insert the net change of `selects` per key into `table`, leaving out keys that net 0."""
    keys, values = TOTALS[table.rsplit("_", 1)[0]]
    names = ", ".join((*keys, *values))
    sums = ", ".join(f"sum({v})" for v in values)
    nonzero = " OR ".join(f"sum({v}) <> 0" for v in values)
    union = " UNION ALL ".join(selects)
    return (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(keys)}, {sums} "
        f"FROM ({union}) AS d GROUP BY {', '.join(keys)} HAVING {nonzero}"
    )


# PostgreSQL: one function per table, three statement triggers each ----------------------------


def _changed(columns: Sequence[str]) -> str:
    """Ids of updated rows in which one of `columns` changed (transition tables)."""
    old = ", ".join(f"o.{c}" for c in columns)
    new = ", ".join(f"n.{c}" for c in columns)
    return (
        "(SELECT n.* FROM new_rows n JOIN old_rows o ON o.id = n.id "
        f"WHERE ROW({old}) IS DISTINCT FROM ROW({new}))"
    )


def _changed_old(columns: Sequence[str]) -> str:
    old = ", ".join(f"o.{c}" for c in columns)
    new = ", ".join(f"n.{c}" for c in columns)
    return (
        "(SELECT o.* FROM old_rows o JOIN new_rows n ON n.id = o.id "
        f"WHERE ROW({old}) IS DISTINCT FROM ROW({new}))"
    )


def _pg_function(name: str, branches: dict[str, list[str]]) -> str:
    body = "\n".join(
        f"  {'IF' if i == 0 else 'ELSIF'} TG_OP = '{op_name}' THEN\n"
        + "\n".join(f"    {statement};" for statement in statements)
        for i, (op_name, statements) in enumerate(branches.items())
        if statements
    )
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        f"{body}\n  END IF;\n  RETURN NULL;\nEND\n$$"
    )


def _pg_triggers(table: str, function: str) -> list[str]:
    referencing = {
        "INSERT": "NEW TABLE AS new_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
    }
    return [
        f"CREATE TRIGGER {function}_{event.lower()} AFTER {event} ON {table} "
        f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        for event, transition in referencing.items()
    ]


def _pg_statements() -> list[str]:
    pg = "postgresql"
    moved_new, moved_old = _changed(MESSAGE_COLUMNS), _changed_old(MESSAGE_COLUMNS)
    messages = _pg_function(
        "running_totals_messages",
        {
            "INSERT": [
                _insert_grouped("reply_hour_deltas", [_reply_rows(pg, "new_rows", "1")]),
                _insert_grouped("campaign_message_deltas", [_campaign_rows("new_rows", "1")]),
            ],
            "UPDATE": [
                _insert_grouped(
                    "reply_hour_deltas",
                    [_reply_rows(pg, moved_new, "1"), _reply_rows(pg, moved_old, "-1")],
                ),
                _insert_grouped(
                    "campaign_message_deltas",
                    [_campaign_rows(moved_new, "1"), _campaign_rows(moved_old, "-1")],
                ),
            ],
            "DELETE": [
                _insert_grouped("reply_hour_deltas", [_reply_rows(pg, "old_rows", "-1")]),
                _insert_grouped("campaign_message_deltas", [_campaign_rows("old_rows", "-1")]),
            ],
        },
    )
    leads = _pg_function(
        "running_totals_leads",
        {
            "INSERT": [_insert_grouped("lead_factor_deltas", [_factor_rows(pg, "new_rows", "1")])],
            "UPDATE": [
                _insert_grouped(
                    "lead_factor_deltas",
                    [
                        _factor_rows(pg, _changed(FACTOR_COLUMNS), "1"),
                        _factor_rows(pg, _changed_old(FACTOR_COLUMNS), "-1"),
                    ],
                ),
                _insert_grouped(
                    "reply_hour_deltas",
                    [
                        _zone_rows(pg, _changed(ZONE_COLUMNS), "1"),
                        _zone_rows(pg, _changed_old(ZONE_COLUMNS), "-1"),
                    ],
                ),
            ],
            "DELETE": [
                _insert_grouped("lead_factor_deltas", [_factor_rows(pg, "old_rows", "-1")])
            ],
        },
    )
    return [
        messages,
        *_pg_triggers("messages", "running_totals_messages"),
        leads,
        *_pg_triggers("leads", "running_totals_leads"),
    ]


# SQLite: row triggers, the row as a one-row subquery ------------------------------------------


def _row(prefix: str, columns: Sequence[str]) -> str:
    return "(SELECT " + ", ".join(f"{prefix}.{c} AS {c}" for c in ("id", *columns)) + ")"


def _differs(columns: Sequence[str]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _sqlite_trigger(name: str, event: str, table: str, statements: list[str], when: str = "") -> str:
    condition = f" WHEN {when}" if when else ""
    body = "".join(f"  {statement};\n" for statement in statements)
    return f"CREATE TRIGGER {name} AFTER {event} ON {table}{condition}\nBEGIN\n{body}END"


def _sqlite_statements() -> list[str]:
    lite = "sqlite"
    m_new, m_old = _row("NEW", MESSAGE_COLUMNS), _row("OLD", MESSAGE_COLUMNS)
    lead_columns = (*FACTOR_COLUMNS, "timezone")
    l_new, l_old = _row("NEW", lead_columns), _row("OLD", lead_columns)
    return [
        _sqlite_trigger(
            "running_totals_messages_insert",
            "INSERT",
            "messages",
            [
                _insert_grouped("reply_hour_deltas", [_reply_rows(lite, m_new, "1")]),
                _insert_grouped("campaign_message_deltas", [_campaign_rows(m_new, "1")]),
            ],
        ),
        _sqlite_trigger(
            "running_totals_messages_update",
            "UPDATE",
            "messages",
            [
                _insert_grouped(
                    "reply_hour_deltas",
                    [_reply_rows(lite, m_new, "1"), _reply_rows(lite, m_old, "-1")],
                ),
                _insert_grouped(
                    "campaign_message_deltas",
                    [_campaign_rows(m_new, "1"), _campaign_rows(m_old, "-1")],
                ),
            ],
            when=_differs(MESSAGE_COLUMNS),
        ),
        _sqlite_trigger(
            "running_totals_messages_delete",
            "DELETE",
            "messages",
            [
                _insert_grouped("reply_hour_deltas", [_reply_rows(lite, m_old, "-1")]),
                _insert_grouped("campaign_message_deltas", [_campaign_rows(m_old, "-1")]),
            ],
        ),
        _sqlite_trigger(
            "running_totals_leads_insert",
            "INSERT",
            "leads",
            [_insert_grouped("lead_factor_deltas", [_factor_rows(lite, l_new, "1")])],
        ),
        _sqlite_trigger(
            "running_totals_leads_factors",
            "UPDATE",
            "leads",
            [
                _insert_grouped(
                    "lead_factor_deltas",
                    [_factor_rows(lite, l_new, "1"), _factor_rows(lite, l_old, "-1")],
                )
            ],
            when=_differs(FACTOR_COLUMNS),
        ),
        _sqlite_trigger(
            "running_totals_leads_zone",
            "UPDATE",
            "leads",
            [
                _insert_grouped(
                    "reply_hour_deltas",
                    [_zone_rows(lite, l_new, "1"), _zone_rows(lite, l_old, "-1")],
                )
            ],
            when=_differs(ZONE_COLUMNS),
        ),
        _sqlite_trigger(
            "running_totals_leads_delete",
            "DELETE",
            "leads",
            [_insert_grouped("lead_factor_deltas", [_factor_rows(lite, l_old, "-1")])],
        ),
    ]


SQLITE_TRIGGERS = (
    "running_totals_messages_insert",
    "running_totals_messages_update",
    "running_totals_messages_delete",
    "running_totals_leads_insert",
    "running_totals_leads_factors",
    "running_totals_leads_zone",
    "running_totals_leads_delete",
)


def _backfill(dialect: str) -> list[str]:
    return [
        _insert_grouped("reply_hour_totals", [_reply_rows(dialect, "messages", "1")]),
        _insert_grouped("campaign_message_totals", [_campaign_rows("messages", "1")]),
        _insert_grouped("lead_factor_totals", [_factor_rows(dialect, "leads", "1")]),
    ]


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), nullable=False, server_default=None)


def _tables() -> None:
    text_column = sa.Text()
    op.create_table(
        "reply_hour_totals",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("channel", text_column, nullable=False),
        sa.Column("timezone", text_column, nullable=False),
        _count("sends"),
        _count("replies"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "hour", "channel", "timezone", name=op.f("pk_reply_hour_totals")
        ),
    )
    op.create_table(
        "reply_hour_deltas",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("channel", text_column, nullable=False),
        sa.Column("timezone", text_column, nullable=False),
        _count("sends"),
        _count("replies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_hour_deltas")),
    )
    op.create_index(
        "ix_reply_hour_deltas_tenant_hour", "reply_hour_deltas", ["tenant_id", "hour"]
    )
    campaign_values = ("messages", "sent", "delivered", "replied", "cost_microdollars")
    op.create_table(
        "campaign_message_totals",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        *(_count(name) for name in campaign_values),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name=op.f("pk_campaign_message_totals")),
    )
    op.create_table(
        "campaign_message_deltas",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        *(_count(name) for name in campaign_values),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_message_deltas")),
    )
    op.create_index("ix_campaign_message_deltas_tenant", "campaign_message_deltas", ["tenant_id"])
    op.create_table(
        "lead_factor_totals",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("factor", text_column, nullable=False),
        _count("leads"),
        _count("scored"),
        sa.Column("points", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "owner_id", "factor", name=op.f("pk_lead_factor_totals")
        ),
    )
    op.create_table(
        "lead_factor_deltas",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("factor", text_column, nullable=False),
        _count("leads"),
        _count("scored"),
        sa.Column("points", sa.Numeric(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_factor_deltas")),
    )
    op.create_index("ix_lead_factor_deltas_tenant", "lead_factor_deltas", ["tenant_id"])


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _tables()
    for statement in _pg_statements() if dialect == "postgresql" else _sqlite_statements():
        op.execute(statement)
    for statement in _backfill(dialect):
        op.execute(statement)
    # An audience rule with a tag reads the lead's tags from the covering index, not the table.
    op.drop_index("ix_leads_tenant_status_heat", table_name="leads")
    op.create_index(
        "ix_leads_tenant_status_heat",
        "leads",
        ["tenant_id", "status"],
        unique=False,
        postgresql_include=[*HEAT_COLUMNS, "tags"],
    )
    # An audience's sample walks the office's leads in rank order, testing the rule on the
    # index entries (covering on PostgreSQL) instead of fetching each lead.
    op.create_index(
        "ix_leads_tenant_rank",
        "leads",
        ["tenant_id", sa.text("score DESC"), "id"],
        unique=False,
        postgresql_include=["status", *HEAT_COLUMNS, "tags"],
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_leads_tenant_rank", table_name="leads")
    op.drop_index("ix_leads_tenant_status_heat", table_name="leads")
    op.create_index(
        "ix_leads_tenant_status_heat",
        "leads",
        ["tenant_id", "status"],
        unique=False,
        postgresql_include=HEAT_COLUMNS,
    )
    if dialect == "postgresql":
        for table, function in (
            ("messages", "running_totals_messages"),
            ("leads", "running_totals_leads"),
        ):
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {function}_{event} ON {table}")
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_lead_factor_deltas_tenant", table_name="lead_factor_deltas")
    op.drop_table("lead_factor_deltas")
    op.drop_table("lead_factor_totals")
    op.drop_index("ix_campaign_message_deltas_tenant", table_name="campaign_message_deltas")
    op.drop_table("campaign_message_deltas")
    op.drop_table("campaign_message_totals")
    op.drop_index("ix_reply_hour_deltas_tenant_hour", table_name="reply_hour_deltas")
    op.drop_table("reply_hour_deltas")
    op.drop_table("reply_hour_totals")
