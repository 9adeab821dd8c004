"""`per_transaction`: settings rows read once a transaction, never carried into the next."""

from sqlalchemy import event, text

from recovery_app.db import forget, per_transaction
from recovery_app.domain.accounts import integrations
from tests.factories import make_tenant


def test_an_answer_lasts_until_the_transaction_ends(session) -> None:
    loads: list[int] = []

    def load() -> int:  # reads the database, as real loads do (it begins the transaction)
        session.execute(text("SELECT 1"))
        loads.append(1)
        return len(loads)

    assert per_transaction(session, "k", load) == 1
    assert per_transaction(session, "k", load) == 1  # the same transaction: not read again
    forget(session, "k")
    assert per_transaction(session, "k", load) == 2  # forgotten by the code that changed it
    session.commit()
    assert per_transaction(session, "k", load) == 3  # a new transaction reads afresh
    session.rollback()
    assert per_transaction(session, "k", load) == 4
    nested = session.begin_nested()
    nested.rollback()  # a savepoint's rollback may have undone what the answer was made of
    assert per_transaction(session, "k", load) == 5


def test_an_office_asks_for_its_integrations_once_a_transaction(session) -> None:
    tenant = make_tenant(session)
    integrations.integration_row(session, tenant_id=tenant.id, integration="ghl", create=True)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        for name in ("ghl", "apollo", "slack", "ghl"):
            integrations.integration_row(session, tenant_id=tenant.id, integration=name)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert statements == []  # the create above read them; it also counts as read
    assert integrations.integration_row(session, tenant_id=tenant.id, integration="apollo") is None
    made = integrations.integration_row(
        session, tenant_id=tenant.id, integration="apollo", create=True
    )
    assert integrations.integration_row(session, tenant_id=tenant.id, integration="apollo") is made
    session.commit()
    found = integrations.integration_row(session, tenant_id=tenant.id, integration="apollo")
    assert found is not None and found.id == made.id
