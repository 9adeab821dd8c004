"""One metrics directory per server start: emptied or made by the first process, inherited
untouched by the workers it starts."""

import os

import pytest

from recovery_app.observability import metrics_dir


@pytest.fixture
def env(monkeypatch):
    # Set first so that undo() restores them (delenv of an absent variable records nothing,
    # and prepare() writes os.environ itself): later tests must not inherit a metrics directory.
    for name in (metrics_dir.ENV, metrics_dir.OWNER):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return monkeypatch


def test_a_configured_directory_is_emptied_once_per_start(env, tmp_path) -> None:
    env.setenv(metrics_dir.ENV, str(tmp_path))
    (tmp_path / "counter_111.db").write_bytes(b"old start")
    assert metrics_dir.prepare() == tmp_path
    assert not list(tmp_path.glob("*.db"))
    # A worker of this start (it inherited the owner mark) keeps what its siblings wrote.
    (tmp_path / "counter_222.db").write_bytes(b"this start")
    assert metrics_dir.prepare() == tmp_path
    assert (tmp_path / "counter_222.db").exists()


def test_without_one_a_fresh_directory_is_made(env) -> None:
    path = metrics_dir.prepare()
    assert path.is_dir() and not list(path.iterdir())
    assert os.environ[metrics_dir.ENV] == str(path) and os.environ[metrics_dir.OWNER]
    env.undo()
    assert metrics_dir.ENV not in os.environ
