from datetime import timedelta

import pytest
from sqlalchemy import func, select

from recovery_app.domain.accounts import auth
from recovery_app.domain.accounts.passwords import hash_password
from recovery_app.errors import Forbidden, Unauthenticated, ValidationFailed
from recovery_app.models import AuditLog, Role, SignInAttempt, UserSession
from tests.factories import NOW, make_tenant, make_user, viewer_for

PASSWORD = "correct horse battery"


@pytest.fixture
def user(session):
    tenant = make_tenant(session)
    return make_user(
        session, tenant, email="ana@office.example", password_hash=hash_password(PASSWORD)
    )


def sign_in(session, email="ana@office.example", password=PASSWORD, now=NOW):
    return auth.sign_in(session, email=email, password=password, now=now, ip="203.0.113.9")


def test_right_password_opens_a_session(session, user) -> None:
    outcome = sign_in(session, email="  ANA@office.example ")
    assert outcome.status == auth.SignInStatus.OK and outcome.user_id == user.id
    stored = session.execute(select(UserSession)).scalar_one()
    assert (
        stored.token_hash == auth.token_hash(outcome.token) != outcome.token
    )  # only the hash is kept
    assert stored.expires_at == NOW + timedelta(hours=12)
    viewer = auth.resolve_session(session, token=outcome.token, now=NOW + timedelta(minutes=5))
    assert (viewer.user_id, viewer.role, viewer.tenant_id) == (user.id, Role.AGENT, user.tenant_id)
    assert session.execute(select(AuditLog.action)).scalars().all() == ["user.signed_in"]


def test_wrong_password_and_unknown_email_read_the_same(session, user) -> None:
    wrong = sign_in(session, password="nope nope nope")
    unknown = sign_in(session, email="nobody@office.example")
    assert wrong.status == unknown.status == auth.SignInStatus.INVALID
    assert wrong.message == unknown.message == "Email or password is incorrect."
    assert session.execute(select(func.count()).select_from(SignInAttempt)).scalar_one() == 2


def test_five_failures_in_15_minutes_lock_the_email(session, user) -> None:
    for minute in range(5):
        assert (
            sign_in(session, password="bad", now=NOW + timedelta(minutes=minute)).status
            == "invalid"
        )
    locked = sign_in(session, now=NOW + timedelta(minutes=6))  # even the right password waits
    assert locked.status == auth.SignInStatus.THROTTLED
    assert (
        locked.message == "Too many failed sign-ins for this email. Wait 9 minutes and try again."
    )
    # 15 minutes after the first failure, one slot frees up.
    assert (
        sign_in(session, now=NOW + timedelta(minutes=15, seconds=1)).status == auth.SignInStatus.OK
    )


def test_unknown_emails_are_throttled_too(session, user) -> None:
    for _ in range(5):
        sign_in(session, email="ghost@office.example", password="x")
    assert sign_in(session, email="ghost@office.example", password="x").status == "throttled"
    assert sign_in(session).status == "ok"  # other emails are not affected


def test_a_success_resets_the_count(session, user) -> None:
    for minute in range(4):
        sign_in(session, password="bad", now=NOW + timedelta(minutes=minute))
    assert sign_in(session, now=NOW + timedelta(minutes=5)).status == "ok"
    for minute in range(4):
        assert (
            sign_in(session, password="bad", now=NOW + timedelta(minutes=6 + minute)).status
            == "invalid"
        )
    assert sign_in(session, now=NOW + timedelta(minutes=11)).status == "ok"


def test_deactivated_user_is_told_only_with_the_right_password(session, user) -> None:
    user.active = False
    assert sign_in(session, password="bad").status == "invalid"
    outcome = sign_in(session)
    assert outcome.status == auth.SignInStatus.DISABLED and outcome.token is None


@pytest.mark.parametrize(
    ("email", "password"), [("a" * 255 + "@x.io", PASSWORD), ("ana@office.example", "p" * 1025)]
)
def test_oversized_input_is_refused_before_any_work(session, user, email, password) -> None:
    with pytest.raises(ValidationFailed):
        sign_in(session, email=email, password=password)
    assert session.execute(select(func.count()).select_from(SignInAttempt)).scalar_one() == 0


def test_idle_sessions_expire_and_activity_extends_them(session, user) -> None:
    token = sign_in(session).token
    auth.resolve_session(session, token=token, now=NOW + timedelta(hours=11))
    # Used at 11 h: the 12 h idle window now runs from there.
    auth.resolve_session(session, token=token, now=NOW + timedelta(hours=22))
    with pytest.raises(Unauthenticated) as caught:
        auth.resolve_session(session, token=token, now=NOW + timedelta(hours=34, seconds=1))
    assert caught.value.reason == "expired"


@pytest.mark.parametrize("token", [None, "", "x" * 200, "tampered-token-value"])
def test_missing_or_tampered_tokens_are_rejected(session, user, token) -> None:
    sign_in(session)
    with pytest.raises(Unauthenticated):
        auth.resolve_session(session, token=token, now=NOW)


def test_sign_out_and_deactivation_end_sessions(session, user) -> None:
    token = sign_in(session).token
    auth.sign_out(session, token=token, now=NOW)
    with pytest.raises(Unauthenticated) as caught:
        auth.resolve_session(session, token=token, now=NOW)
    assert caught.value.reason == "signed_out"
    other = sign_in(session, now=NOW + timedelta(minutes=1)).token
    user.active = False
    with pytest.raises(Unauthenticated, match="deactivated"):
        auth.resolve_session(session, token=other, now=NOW + timedelta(minutes=2))


def test_only_admins_switch_tenants(session, user) -> None:
    other = make_tenant(session)
    admin = make_user(
        session, make_tenant(session), role=Role.ADMIN, password_hash=hash_password(PASSWORD)
    )
    token = auth.open_session(session, user=admin, tenant_id=admin.tenant_id, now=NOW)
    viewer = auth.resolve_session(session, token=token, now=NOW)
    auth.switch_session_tenant(session, viewer=viewer, tenant_id=other.id)
    assert auth.resolve_session(session, token=token, now=NOW).tenant_id == other.id
    with pytest.raises(Forbidden):
        auth.switch_session_tenant(session, viewer=viewer_for(user), tenant_id=other.id)


def test_an_old_hash_is_upgraded_on_sign_in(session, user) -> None:
    from argon2 import PasswordHasher

    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    assert sign_in(session).status == "ok"
    assert user.password_hash.startswith("$argon2id$") and "m=8192" not in user.password_hash
