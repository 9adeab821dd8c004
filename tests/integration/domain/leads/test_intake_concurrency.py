"""Several processes submit the same person in the same instant: one lead, the rest merge.
The database's unique (tenant, phone) / (tenant, email) constraints decide, not Python."""

import multiprocessing
import os

from sqlalchemy import func, select

from recovery_app.db import session_scope
from recovery_app.models import Lead
from tests.factories import make_tenant

PROCESSES = 6


def _submit(url: str, tenant_id: int, n: int, barrier, results) -> None:
    os.environ["DATABASE_URL"] = url
    from datetime import UTC, datetime

    from recovery_app.db import session_scope
    from recovery_app.domain.leads.intake import intake, normalize, parse_payload, run_intake
    from recovery_app.models import Tenant

    # The same person, spelled a little differently by each form.
    payload = {
        "first_name": "Dup",
        "email": "Same.Person@Example.com" if n % 2 else "same.person@example.com",
        "phone": "+1 512 555 0111" if n % 3 else "(512) 555-0111",
        "message": f"try {n}",
    }
    person = normalize(parse_payload(payload), region="US")

    def work():  # type: ignore[no-untyped-def]
        with session_scope() as session:
            return intake(
                session,
                tenant=session.get(Tenant, tenant_id),
                person=person,  # type: ignore[arg-type]
                received_at=datetime.now(UTC),
                via="test",
                respond=False,
            )

    barrier.wait(60)
    result = run_intake(work)
    results.put((result.lead_id, result.created))


def test_concurrent_duplicates_make_one_lead(app_database) -> None:
    with session_scope() as session:
        tenant_id = make_tenant(session).id
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=_submit, args=(app_database.url, tenant_id, n, barrier, results))
        for n in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert len({lead_id for lead_id, _ in outcomes}) == 1
    assert sum(created for _, created in outcomes) == 1
    with session_scope() as session:
        assert session.execute(select(func.count()).select_from(Lead)).scalar_one() == 1
        assert session.execute(select(Lead.submissions)).scalar_one() == PROCESSES
