"""`python -m recovery_app.jobs`: the standalone scheduler (same as `recovery scheduler`)."""

from recovery_app.jobs.scheduler import run_standalone

run_standalone()
