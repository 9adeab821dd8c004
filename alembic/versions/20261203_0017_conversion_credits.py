"""The attribution table for ROI: each deal's credited touches under each model, so the ROI
page sums the rows of a range instead of ranking every deal's messages (bench/manager.py: 90
and 365 days took 0.7-2.4 s at a million leads). A tag-only index for audience rules with a tag.

`conversion_credits` holds, per deal, one row for its first touch, one for its last and one per
touch for linear (share 1/n): the recovery messages (marketing, sent, outbound, same office)
sent to its lead within the office's attribution window before it closed - the rule of
`roi.credits`, which stays the direct computation the tests hold this table to. Triggers keep
it so in the statement that makes the change, whatever the write path:
- a deal inserted, or its lead, office, value or closing time changed: its rows again;
  deleted: its rows go (foreign key, and an explicit trigger on SQLite);
- a message that is or was a recovery touch inserted, changed (lead, campaign, channel, sent
  time, category...) or deleted: the rows of its lead's deals again;
- a lead's source or agent changed: its deals' rows follow (ROI groups by the lead as it is);
- the office's attribution window changed: all its deals again (seconds for a large office).
On PostgreSQL the deal's row is locked (FOR UPDATE) before its credits are rewritten, so two
writers touching one deal take turns and the second recomputes from what the first committed.
Messages and deals inserted in bulk are handled per statement (transition tables).
The backfill runs after the triggers exist; on PostgreSQL creating them locks out writers until
the migration commits, so nothing falls between.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sqlmodel.sql.sqltypes.UTCDateTime

# A recovery touch (conversions.touch_clauses without the office, which the join checks).
TOUCH = "{m}.direction = 'outbound' AND {m}.category = 'marketing' AND {m}.sent_at IS NOT NULL"
# Message columns whose change can make or unmake a touch or move its credit.
MESSAGE_COLUMNS = (
    "tenant_id",
    "lead_id",
    "campaign_id",
    "channel",
    "direction",
    "category",
    "sent_at",
)
CONVERSION_COLUMNS = ("tenant_id", "lead_id", "value_cents", "closed_at")
LEAD_COLUMNS = ("source", "assigned_user_id")
# Leads with a tag: the partial index audience rules with a tag read.
TAGGED = {"postgresql": "tags <> '[]'::jsonb", "sqlite": "tags <> '[]'"}
HEAT_COLUMNS = (
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
    "tags",
)
CREDIT_COLUMNS = (
    "conversion_id, model, message_id, tenant_id, closed_at, lead_id, campaign_id, channel, "
    "source, assigned_user_id, share, credit"
)


def _touch(alias: str) -> str:
    return TOUCH.format(m=alias)


def _in_window(dialect: str) -> str:
    # Whole 24-hour days, as `conversions.last_touch` counts them (timedelta(days=...)): an
    # interval of hours does not depend on the session's time zone, one of days would.
    if dialect == "postgresql":
        return "m.sent_at >= c.closed_at - make_interval(hours => 24 * tn.attribution_window_days)"
    return "julianday(m.sent_at) >= julianday(c.closed_at) - tn.attribution_window_days"


def _credit_rows(dialect: str, deals: str) -> str:
    """INSERT the credit rows of the deals `c` for which `deals` holds."""
    return f"""
        INSERT INTO conversion_credits ({CREDIT_COLUMNS})
        SELECT t.conversion_id, k.model, t.message_id, t.tenant_id, t.closed_at, t.lead_id,
               t.campaign_id, t.channel, l.source, l.assigned_user_id,
               CASE WHEN k.model = 'linear' THEN CAST(1 AS FLOAT) / t.touches
                    ELSE CAST(1 AS FLOAT) END,
               CASE WHEN k.model = 'linear' THEN CAST(t.value_cents AS FLOAT) / t.touches
                    ELSE CAST(t.value_cents AS FLOAT) END
        FROM (
            SELECT c.id AS conversion_id, c.tenant_id AS tenant_id, c.closed_at AS closed_at,
                   c.lead_id AS lead_id, c.value_cents AS value_cents, m.id AS message_id,
                   m.campaign_id AS campaign_id, m.channel AS channel,
                   row_number() OVER (PARTITION BY c.id ORDER BY m.sent_at, m.id) AS first_rank,
                   row_number() OVER (PARTITION BY c.id ORDER BY m.sent_at DESC, m.id DESC)
                       AS last_rank,
                   count(*) OVER (PARTITION BY c.id) AS touches
            FROM conversions c
            JOIN tenants tn ON tn.id = c.tenant_id
            JOIN messages m ON m.lead_id = c.lead_id AND m.tenant_id = c.tenant_id
            WHERE ({deals}) AND {_touch("m")} AND m.sent_at <= c.closed_at
              AND {_in_window(dialect)}
        ) t
        JOIN leads l ON l.id = t.lead_id
        JOIN (SELECT 'first_touch' AS model UNION ALL SELECT 'last_touch'
              UNION ALL SELECT 'linear') k
          ON k.model = 'linear' OR (k.model = 'first_touch' AND t.first_rank = 1)
             OR (k.model = 'last_touch' AND t.last_rank = 1)"""


def _differs(columns: Sequence[str], pg: bool) -> str:
    if pg:
        old = ", ".join(f"OLD.{c}" for c in columns)
        new = ", ".join(f"NEW.{c}" for c in columns)
        return f"ROW({old}) IS DISTINCT FROM ROW({new})"
    return "(" + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns) + ")"


# PostgreSQL -------------------------------------------------------------------------------

PG_RECOMPUTE = f"""
CREATE FUNCTION conversion_credits_recompute(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF ids IS NULL OR cardinality(ids) = 0 THEN
    RETURN;
  END IF;
  -- Writers of one deal take turns; the statements below then see what the first committed.
  PERFORM 1 FROM conversions WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
  DELETE FROM conversion_credits WHERE conversion_id = ANY(ids);
  {_credit_rows("postgresql", "c.id = ANY(ids)")};
END
$$"""


def _recompute_deals(deals: str) -> str:
    return f"PERFORM conversion_credits_recompute(ARRAY(SELECT id FROM conversions WHERE {deals}))"


# Trigger functions: name -> body. Messages inserted: the lead ids first, then their deals by
# index (a join of the transition table with `conversions` could be planned as a scan of every
# deal on every message insert).
PG_FUNCTIONS = {
    "conversion_credits_messages_inserted": f"""
  SELECT array_agg(DISTINCT m.lead_id) INTO touched FROM new_rows m
  WHERE m.lead_id IS NOT NULL AND {_touch("m")};
  IF touched IS NOT NULL THEN
    {_recompute_deals("lead_id = ANY(touched)")};
  END IF;""",
    "conversion_credits_message_changed": f"""
  IF TG_OP = 'DELETE' THEN
    {_recompute_deals("lead_id = OLD.lead_id")};
  ELSE
    {_recompute_deals("lead_id IN (OLD.lead_id, NEW.lead_id)")};
  END IF;""",
    "conversion_credits_conversions_inserted": """
  PERFORM conversion_credits_recompute(ARRAY(SELECT id FROM new_rows));""",
    "conversion_credits_conversion_changed": """
  PERFORM conversion_credits_recompute(ARRAY[NEW.id]);""",
    "conversion_credits_lead_changed": """
  UPDATE conversion_credits SET source = NEW.source, assigned_user_id = NEW.assigned_user_id
  WHERE lead_id = NEW.id;""",
    "conversion_credits_window_changed": f"""
  {_recompute_deals("tenant_id = NEW.id")};""",
}


def _pg_function(name: str, body: str) -> str:
    declare = "DECLARE\n  touched bigint[];\n" if "touched" in body else ""
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"{declare}BEGIN{body}\n  RETURN NULL;\nEND\n$$"
    )


PG_TRIGGERS = (
    ("messages", "conversion_credits_messages_insert"),
    ("messages", "conversion_credits_message_update"),
    ("messages", "conversion_credits_message_delete"),
    ("conversions", "conversion_credits_conversions_insert"),
    ("conversions", "conversion_credits_conversion_update"),
    ("leads", "conversion_credits_lead_update"),
    ("tenants", "conversion_credits_window_update"),
)


def _pg_statements() -> list[str]:
    touch_old, touch_new = _touch("OLD"), _touch("NEW")
    return [
        PG_RECOMPUTE,
        *(_pg_function(name, body) for name, body in PG_FUNCTIONS.items()),
        "CREATE TRIGGER conversion_credits_messages_insert AFTER INSERT ON messages "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION conversion_credits_messages_inserted()",
        # Row triggers whose WHEN is checked without calling the function: a delivery receipt
        # or a reply stamp costs nothing here.
        f"CREATE TRIGGER conversion_credits_message_update AFTER UPDATE OF "
        f"{', '.join(MESSAGE_COLUMNS)} ON messages FOR EACH ROW "
        f"WHEN (({touch_old} OR {touch_new}) AND {_differs(MESSAGE_COLUMNS, True)}) "
        "EXECUTE FUNCTION conversion_credits_message_changed()",
        f"CREATE TRIGGER conversion_credits_message_delete AFTER DELETE ON messages FOR EACH ROW "
        f"WHEN ({touch_old}) EXECUTE FUNCTION conversion_credits_message_changed()",
        "CREATE TRIGGER conversion_credits_conversions_insert AFTER INSERT ON conversions "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION conversion_credits_conversions_inserted()",
        f"CREATE TRIGGER conversion_credits_conversion_update AFTER UPDATE OF "
        f"{', '.join(CONVERSION_COLUMNS)} ON conversions FOR EACH ROW "
        f"WHEN ({_differs(CONVERSION_COLUMNS, True)}) "
        "EXECUTE FUNCTION conversion_credits_conversion_changed()",
        f"CREATE TRIGGER conversion_credits_lead_update AFTER UPDATE OF "
        f"{', '.join(LEAD_COLUMNS)} ON leads FOR EACH ROW "
        f"WHEN ({_differs(LEAD_COLUMNS, True)}) "
        "EXECUTE FUNCTION conversion_credits_lead_changed()",
        "CREATE TRIGGER conversion_credits_window_update AFTER UPDATE OF "
        "attribution_window_days ON tenants FOR EACH ROW "
        f"WHEN ({_differs(('attribution_window_days',), True)}) "
        "EXECUTE FUNCTION conversion_credits_window_changed()",
    ]


# SQLite: row triggers, the deals to recompute named by the row ------------------------------


def _recompute(deals: str) -> list[str]:
    return [
        "DELETE FROM conversion_credits WHERE conversion_id IN "
        f"(SELECT c.id FROM conversions c WHERE {deals})",
        _credit_rows("sqlite", deals),
    ]


def _sqlite_trigger(name: str, event: str, table: str, statements: list[str], when: str) -> str:
    body = "".join(f"  {statement};\n" for statement in statements)
    return f"CREATE TRIGGER {name} AFTER {event} ON {table} WHEN {when}\nBEGIN\n{body}END"


SQLITE_TRIGGERS = (
    "conversion_credits_message_insert",
    "conversion_credits_message_update",
    "conversion_credits_message_delete",
    "conversion_credits_conversion_insert",
    "conversion_credits_conversion_update",
    "conversion_credits_conversion_delete",
    "conversion_credits_lead_update",
    "conversion_credits_window_update",
)


def _sqlite_statements() -> list[str]:
    has_deal = "EXISTS (SELECT 1 FROM conversions WHERE lead_id = {row}.lead_id)"
    names = iter(SQLITE_TRIGGERS)
    return [
        _sqlite_trigger(
            next(names),
            "INSERT",
            "messages",
            _recompute("c.lead_id = NEW.lead_id"),
            f"{_touch('NEW')} AND {has_deal.format(row='NEW')}",
        ),
        _sqlite_trigger(
            next(names),
            "UPDATE",
            "messages",
            _recompute("c.lead_id IN (OLD.lead_id, NEW.lead_id)"),
            f"({_touch('OLD')} OR {_touch('NEW')}) AND {_differs(MESSAGE_COLUMNS, False)}",
        ),
        _sqlite_trigger(
            next(names),
            "DELETE",
            "messages",
            _recompute("c.lead_id = OLD.lead_id"),
            f"{_touch('OLD')} AND {has_deal.format(row='OLD')}",
        ),
        _sqlite_trigger(next(names), "INSERT", "conversions", _recompute("c.id = NEW.id"), "1"),
        _sqlite_trigger(
            next(names),
            "UPDATE",
            "conversions",
            _recompute("c.id = NEW.id"),
            _differs(CONVERSION_COLUMNS, False),
        ),
        _sqlite_trigger(
            next(names),
            "DELETE",
            "conversions",
            ["DELETE FROM conversion_credits WHERE conversion_id = OLD.id"],
            "1",
        ),
        _sqlite_trigger(
            next(names),
            "UPDATE",
            "leads",
            [
                "UPDATE conversion_credits SET source = NEW.source, "
                "assigned_user_id = NEW.assigned_user_id WHERE lead_id = NEW.id"
            ],
            _differs(LEAD_COLUMNS, False),
        ),
        _sqlite_trigger(
            next(names),
            "UPDATE",
            "tenants",
            _recompute("c.tenant_id = NEW.id"),
            _differs(("attribution_window_days",), False),
        ),
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "conversion_credits",
        sa.Column("conversion_id", BIGID, nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", WHEN(), nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("assigned_user_id", sa.BigInteger(), nullable=True),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("credit", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_conversion_credits_conversion_id_conversions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversion_id", "model", "message_id", name=op.f("pk_conversion_credits")
        ),
    )
    for statement in _pg_statements() if dialect == "postgresql" else _sqlite_statements():
        op.execute(statement)
    op.execute(_credit_rows(dialect, "1 = 1"))
    # After the backfill: one sorted build instead of 600,000 inserts into each index.
    op.create_index(
        "ix_conversion_credits_range",
        "conversion_credits",
        ["tenant_id", "model", "closed_at"],
        postgresql_include=[
            "campaign_id",
            "channel",
            "source",
            "assigned_user_id",
            "share",
            "credit",
        ],
    )
    op.create_index("ix_conversion_credits_lead", "conversion_credits", ["lead_id"])
    op.create_index(
        "ix_leads_tenant_tagged",
        "leads",
        ["tenant_id", sa.text("score DESC"), "id"],
        postgresql_include=["status", *HEAT_COLUMNS],
        postgresql_where=sa.text(TAGGED["postgresql"]),
        sqlite_where=sa.text(TAGGED["sqlite"]),
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table, trigger in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
        for function in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {function}()")
        op.execute("DROP FUNCTION conversion_credits_recompute(bigint[])")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_leads_tenant_tagged", table_name="leads")
    op.drop_index("ix_conversion_credits_lead", table_name="conversion_credits")
    op.drop_index("ix_conversion_credits_range", table_name="conversion_credits")
    op.drop_table("conversion_credits")
