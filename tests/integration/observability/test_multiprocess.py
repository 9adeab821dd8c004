"""Production's several worker processes answer /metrics alike: each process counts into the
shared multiprocess directory, and any of them sums all of it (plus the database's facts)."""

import os
import subprocess
import sys
import textwrap

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.observability.conftest import MARIA

COUNT = textwrap.dedent(
    """
    import sys
    from recovery_app.observability import metrics
    n = int(sys.argv[1])
    metrics.INTAKE.labels("webhook", "web_form", "created").inc(n)
    for _ in range(n):
        metrics.SPEED_TO_LEAD.observe(12.0)
    """
)
RENDER = textwrap.dedent(
    """
    import sys
    from recovery_app.db import session_scope
    from recovery_app.observability import exposition
    sys.stdout.write(exposition.render(session_scope)[0].decode())
    """
)


def run(env: dict, script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def samples(text: str) -> dict:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_workers_answer_the_same_sums(office, database, tmp_path) -> None:
    office.post_lead(MARIA)  # one queued SMS and email: the database's part of the answer
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), DATABASE_URL=database.url)
    run(env, COUNT, "2")
    run(env, COUNT, "3")
    first, second = samples(run(env, RENDER)), samples(run(env, RENDER))
    # Everything alike but the age of the oldest due message, which grows between the two.
    age = ("recovery_outbox_oldest_due_age_seconds", frozenset())
    assert 0 < first.pop(age) <= second.pop(age)
    assert first == second
    found = first
    labels = frozenset({"via": "webhook", "source": "web_form", "result": "created"}.items())
    assert found[("recovery_intake_total", labels)] == 5
    assert found[("recovery_speed_to_lead_seconds_count", frozenset())] == 5
    assert found[("recovery_speed_to_lead_seconds_bucket", frozenset({"le": "15.0"}.items()))] == 5
    assert found[("recovery_outbox_messages", frozenset({"state": "queued"}.items()))] == 2
