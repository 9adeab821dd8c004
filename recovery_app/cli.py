"""The `recovery` command (also `python -m recovery_app.cli`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from recovery_app.errors import RecoveryError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(connection=None):  # type: ignore[no-untyped-def]
    """Alembic's config for this project; pass `connection` to migrate over it."""
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if connection is not None:
        config.attributes["connection"] = connection
        config.attributes["configure_logger"] = False
    return config


# pg_advisory_xact_lock key of `recovery migrate` (any constant; ours is "recovery" in ASCII).
MIGRATION_LOCK_KEY = 0x7265636F76657279


def cmd_migrate(_args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from alembic import command
    from recovery_app.db import get_engine

    with get_engine().begin() as connection:
        if connection.dialect.name == "postgresql":
            # Every app container migrates before it starts, so N replicas starting together
            # would race to create the same tables; the lock queues them (it ends with this
            # transaction) and each one after the first finds the schema already at head.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        command.upgrade(alembic_config(connection), "head")
    print("Database is at the latest schema.")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from recovery_app.db import session_scope
    from recovery_app.demo.generator import database_is_empty, seed_demo

    with session_scope() as session:
        if args.if_empty and not database_is_empty(session):
            print("Database already has data; demo data not loaded.")
            return 0

        def progress(done: int, total: int) -> None:
            print(f"\r  {done:,}/{total:,} leads", end="", file=sys.stderr, flush=True)

        result = seed_demo(session, leads=args.leads, seed=args.seed, progress=progress)
        print(file=sys.stderr)
    with session_scope() as session:
        # A bulk load leaves PostgreSQL without statistics until autovacuum gets round to the
        # tables; until then it plans blind (seconds, not milliseconds, for some page queries).
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
    with session_scope() as session:
        # The daily rollup the dashboard trends and ROI read: the demo's last 90 days now,
        # rather than whenever the scheduler's hourly run comes round.
        from recovery_app.domain.metrics.rollup import rollup_daily_metrics

        rolled = rollup_daily_metrics(session, datetime.now(UTC))
        print(f"Daily metrics rolled up: {rolled['days']:,} office-days.", file=sys.stderr)
    counts = ", ".join(f"{n:,} {name}" for name, n in result.counts.items())
    print(f"Demo data loaded in {result.seconds:.1f} s: {counts}.")
    print("\nSign-in accounts (passwords are shown only this once):")
    width = max(len(c.email) for c in result.credentials)
    for c in result.credentials:
        print(f"  {c.email:<{width}}  {c.password}  {c.role:<7}  {c.tenant}")
    return 0


def cmd_create_tenant(args: argparse.Namespace) -> int:
    from recovery_app.db import session_scope
    from recovery_app.domain.accounts.service import create_tenant
    from recovery_app.domain.campaigns.trigger_rules import install_default_rules

    with session_scope() as session:
        tenant = create_tenant(
            session, name=args.name, location_id=args.location_id, timezone=args.timezone
        )
        # The starter behavioral triggers: a new office adapts its nurture from day one.
        rules = install_default_rules(session, tenant.id)  # type: ignore[arg-type]
        print(
            f"Created tenant {tenant.name} (location id {tenant.location_id}, id {tenant.id}) "
            f"with {rules} starter trigger rules."
        )
    return 0


def _tenant(session, location_id: str):  # type: ignore[no-untyped-def]
    from recovery_app.domain.accounts.repository import tenant_by_location
    from recovery_app.errors import NotFound

    tenant = tenant_by_location(session, location_id)
    if tenant is None:
        raise NotFound(f"No tenant with location id {location_id!r}; create it with create-tenant.")
    return tenant


def cmd_create_user(args: argparse.Namespace) -> int:
    from recovery_app.db import session_scope
    from recovery_app.domain.accounts.service import create_user
    from recovery_app.domain.audit import service as audit
    from recovery_app.errors import ValidationFailed

    if not args.password_stdin:
        raise ValidationFailed(
            "Pass the password on standard input with --password-stdin, e.g. "
            "`printf '%s' \"$PASSWORD\" | recovery create-user ... --password-stdin`."
        )
    password = sys.stdin.readline().rstrip("\r\n")
    with session_scope() as session:
        tenant = _tenant(session, args.tenant)
        user = create_user(
            session,
            tenant=tenant,
            email=args.email,
            password=password,
            role=args.role,
            full_name=args.name or "",
        )
        audit.record(
            session,
            action="user.created",
            entity_type="user",
            entity_id=user.id,
            tenant_id=tenant.id,
            actor_label="cli",
            after={"email": user.email, "role": str(user.role)},
        )
        print(f"Created {user.role} {user.email} in {tenant.location_id}.")
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    from recovery_app.db import session_scope
    from recovery_app.domain.accounts.api_keys import issue_key
    from recovery_app.domain.accounts.repository import user_by_email
    from recovery_app.domain.audit import service as audit
    from recovery_app.errors import NotFound

    with session_scope() as session:
        tenant = _tenant(session, args.tenant)
        user = None
        if args.user:
            user = user_by_email(session, args.user)
            if user is None:
                raise NotFound(f"No user {args.user}.")
        row, key = issue_key(
            session, tenant=tenant, role=args.role, name=args.name or "", user=user
        )
        audit.record(
            session,
            action="api_key.created",
            entity_type="api_key",
            entity_id=row.id,
            tenant_id=tenant.id,
            actor_label="cli",
            after={"prefix": row.prefix, "role": str(row.role), "user_id": row.user_id},
        )
    print(f"{args.role} key for {args.tenant} (prefix {row.prefix}); it is shown only this once:")
    print(key)
    return 0


def _tenant_viewer(session, location_id: str | None):  # type: ignore[no-untyped-def]
    """The CLI acts as a manager of one tenant (the only one, or the one named)."""
    from sqlalchemy import select

    from recovery_app.domain.accounts.schemas import Viewer
    from recovery_app.errors import ValidationFailed
    from recovery_app.models import Role, Tenant

    if location_id:
        tenant = _tenant(session, location_id)
    else:
        tenants = (
            session.execute(select(Tenant).where(Tenant.demo_expires_at.is_(None)).limit(2))
            .scalars()
            .all()
        )
        if len(tenants) != 1:
            raise ValidationFailed("Several tenants: name one with --tenant LOCATION_ID.")
        tenant = tenants[0]
    return Viewer(tenant_id=tenant.id, role=Role.MANAGER, name="cli", api_key_prefix="cli")


def cmd_import_leads(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from recovery_app.db import session_scope
    from recovery_app.domain.leads.csv_io import import_csv

    text = Path(args.file).read_text(encoding="utf-8-sig", errors="replace")
    with session_scope() as session:
        viewer = _tenant_viewer(session, args.tenant)
    report = import_csv(text, viewer=viewer, now=datetime.now(UTC), respond=args.respond)
    for row in report.rows:
        if row.outcome == "rejected":
            print(f"  line {row.row}: rejected: {row.reason}")
    counts = report.counts
    print(f"{counts['created']} created, {counts['merged']} merged, {counts['rejected']} rejected.")
    if args.report:
        Path(args.report).write_text(report.as_csv(), encoding="utf-8")
        print(f"Per-row report written to {args.report}.")
    return 0


def cmd_export_leads(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from recovery_app.db import session_scope
    from recovery_app.domain.leads.csv_io import export_csv
    from recovery_app.domain.leads.schemas import LeadQuery
    from recovery_app.models import LeadStatus, Temperature

    query = LeadQuery(
        status=LeadStatus(args.status) if args.status else None,
        temperature=Temperature(args.temperature) if args.temperature else None,
    )
    with session_scope() as session:
        viewer = _tenant_viewer(session, args.tenant)
        text, count = export_csv(session, viewer=viewer, query=query, now=datetime.now(UTC))
    Path(args.file).write_text(text, encoding="utf-8")
    print(f"Exported {count:,} leads to {args.file}.")
    return 0


def cmd_run_job(args: argparse.Namespace) -> int:
    from recovery_app.jobs.runner import run_now
    from recovery_app.jobs.scheduler import worker_id

    result = run_now(args.name, worker=f"cli:{worker_id()}")
    if result.error:
        print(f"{result.job} failed: {result.error}", file=sys.stderr)
        return 1
    flat = {k: v for k, v in result.processed.items() if not isinstance(v, dict)}
    print(f"{result.job}: " + (", ".join(f"{k}={v}" for k, v in flat.items()) or "nothing to do"))
    for key, detail in result.processed.items():
        if isinstance(detail, dict):  # per-tenant details, e.g. calibration AUCs
            print(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in detail.items()))
    return 0


def cmd_scheduler(_args: argparse.Namespace) -> int:
    from recovery_app.jobs.scheduler import run_standalone
    from recovery_app.observability.logs import configure_logging

    configure_logging()  # a long-running process: its log lines as the web workers write them
    run_standalone()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recovery", description="Lead Recovery & Nurture Engine")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = commands.add_parser("migrate", help="apply database migrations up to the latest")
    migrate.set_defaults(handler=cmd_migrate)

    seed = commands.add_parser(
        "seed-demo", help="load a demo brokerage with months of lead history"
    )
    seed.add_argument(
        "--leads", type=_positive_int, default=5_000, help="how many leads (default 5000)"
    )
    seed.add_argument(
        "--seed", type=int, default=7, help="random seed; the same seed gives the same data"
    )
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database has tenants"
    )
    seed.set_defaults(handler=cmd_seed_demo)

    roles = ("agent", "manager", "admin")
    tenant = commands.add_parser("create-tenant", help="add a tenant (an office / GHL location)")
    tenant.add_argument("--name", required=True)
    tenant.add_argument("--location-id", required=True, help="how webhooks name this tenant")
    tenant.add_argument("--timezone", required=True, help="IANA zone, e.g. America/Chicago")
    tenant.set_defaults(handler=cmd_create_tenant)

    user = commands.add_parser("create-user", help="add a user (the first admin is made this way)")
    user.add_argument("--email", required=True)
    user.add_argument("--role", required=True, choices=roles)
    user.add_argument("--tenant", required=True, metavar="LOCATION_ID")
    user.add_argument("--name", help="full name")
    user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user.set_defaults(handler=cmd_create_user)

    key = commands.add_parser("create-api-key", help="print a new API key (once)")
    key.add_argument("--role", required=True, choices=roles)
    key.add_argument("--tenant", required=True, metavar="LOCATION_ID")
    key.add_argument("--user", metavar="EMAIL", help="the agent an agent key acts as")
    key.add_argument("--name", help="a label, e.g. 'website form'")
    key.set_defaults(handler=cmd_create_api_key)

    imports = commands.add_parser(
        "import-leads", help="import leads from a CSV file (dedupe, score, route)"
    )
    imports.add_argument("file")
    imports.add_argument(
        "--tenant", metavar="LOCATION_ID", help="needed when there are several tenants"
    )
    imports.add_argument(
        "--respond", action="store_true", help="also send new leads the first response"
    )
    imports.add_argument("--report", metavar="OUT.csv", help="write the per-row report here")
    imports.set_defaults(handler=cmd_import_leads)

    exports = commands.add_parser("export-leads", help="export leads to a CSV file")
    exports.add_argument("file")
    exports.add_argument(
        "--tenant", metavar="LOCATION_ID", help="needed when there are several tenants"
    )
    exports.add_argument("--status", choices=[s.value for s in _lead_statuses()])
    exports.add_argument("--temperature", choices=["hot", "warm", "cold"])
    exports.set_defaults(handler=cmd_export_leads)

    job = commands.add_parser("run-job", help="run one scheduler job now")
    job.add_argument("name")
    job.set_defaults(handler=cmd_run_job)

    scheduler = commands.add_parser("scheduler", help="run the scheduler as its own process")
    scheduler.set_defaults(handler=cmd_scheduler)
    return parser


def _lead_statuses():  # type: ignore[no-untyped-def]
    from recovery_app.models import LeadStatus

    return list(LeadStatus)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except RecoveryError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for name, problem in exc.fields.items():
            print(f"  {name}: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
