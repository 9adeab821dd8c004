"""PROMETHEUS_MULTIPROC_DIR for one server start: made (or emptied) once, in the `reflex run`
process, before any worker exists; the workers inherit it through the environment.

Imported by rxconfig.py, which every Reflex process loads before the app - so this module must
not import prometheus_client (it picks its multiprocess mode when first imported).
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set by the process that prepared the directory; its children see it and leave the files be.
OWNER = "RECOVERY_METRICS_DIR_OWNER"


def prepare() -> Path:
    """The directory this start's processes write their metrics to. The first call of a start
    empties an operator-given directory (counters begin at zero with the server) or makes a
    temporary one that goes away when that process exits."""
    if os.environ.get(OWNER) and os.environ.get(ENV):
        path = Path(os.environ[ENV])
        path.mkdir(parents=True, exist_ok=True)
        return path
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="recovery-metrics-"))
        atexit.register(shutil.rmtree, path, True)
    os.environ[ENV] = str(path)
    os.environ[OWNER] = str(os.getpid())
    return path


def mark_dead() -> None:
    """A worker is stopping: drop its live-gauge files (counters and histograms stay in the sum)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
