"""`make audit`: known vulnerabilities in the pinned dependencies (`make test` runs it).

pip-audit checks every pin in the lock files against PyPI's per-release records
(/pypi/<name>/<version>/json). Where those do not answer (the package mirror CI uses serves
only the project records, so pip-audit skips every pin there and would report "No known
vulnerabilities" having checked nothing), each skipped pin is checked against its project
record instead, whose `vulnerabilities` are those of the project's latest release: exact for a
pin at the latest release, and reported as not audited otherwise. Any vulnerability not
listed in IGNORED fails the run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PYPI_JSON = os.environ.get("PYPI_JSON_URL", "https://pypi.org/pypi")
# Advisories that do not apply to how this project uses the package: id -> why. Each one is
# passed to pip-audit as --ignore-vuln and skipped in the project-record check too.
IGNORED: dict[str, str] = {}


@dataclass
class Audit:
    vulnerable: list[str] = field(default_factory=list)  # "name version: ID (fixed in ...)"
    by_pip_audit: int = 0
    by_project_record: int = 0
    not_audited: list[str] = field(default_factory=list)  # "name version (latest X)"


def read_pins(lock_files: list[Path]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for lock in lock_files:
        for line in lock.read_text().splitlines():
            if match := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line):
                pins[match.group(1).lower()] = match.group(2)
    return pins


def _pip_audit(lock_files: list[Path]) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--no-deps", "--disable-pip"]
        command += ["--progress-spinner", "off", "--format", "json", "--output", str(report)]
        command += [arg for vuln in IGNORED for arg in ("--ignore-vuln", vuln)]
        command += [arg for lock in lock_files for arg in ("-r", str(lock))]
        # Exit 1 means "vulnerabilities found": the report says which.
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if not report.exists():
            raise SystemExit(f"pip-audit failed:\n{result.stderr}")
        return json.loads(report.read_text())["dependencies"]


def _project_record(client: httpx.Client, name: str) -> dict:
    response = client.get(f"{PYPI_JSON}/{name}/json")
    response.raise_for_status()
    return response.json()


def _describe(name: str, version: str, vuln: dict) -> str:
    fixed = vuln.get("fix_versions") or vuln.get("fixed_in") or ["no fix yet"]
    return f"{name} {version}: {vuln['id']} (fixed in {', '.join(fixed)})"


def audit(lock_files: list[Path]) -> Audit:
    pins = read_pins(lock_files)
    result = Audit()
    skipped = []
    for dependency in _pip_audit(lock_files):
        if "skip_reason" in dependency:
            skipped.append(dependency["name"].lower())
            continue
        result.by_pip_audit += 1
        result.vulnerable += [
            _describe(dependency["name"], dependency["version"], v) for v in dependency["vulns"]
        ]
    with httpx.Client(timeout=30, follow_redirects=True) as client, ThreadPoolExecutor(8) as pool:
        records = dict(
            zip(skipped, pool.map(lambda n: _project_record(client, n), skipped), strict=True)
        )
    for name, record in sorted(records.items()):
        version, latest = pins[name], record["info"]["version"]
        if version != latest:
            result.not_audited.append(f"{name} {version} (latest {latest})")
            continue
        result.by_project_record += 1
        result.vulnerable += [
            _describe(name, version, v)
            for v in record.get("vulnerabilities", [])
            if v["id"] not in IGNORED
            and not set(v.get("aliases", [])) & set(IGNORED)
            and not v.get("withdrawn")
        ]
    return result


def main(argv: list[str]) -> int:
    lock_files = [Path(a) for a in argv] or [
        Path("requirements.lock"),
        Path("requirements-test.lock"),
    ]
    result = audit(lock_files)
    total = result.by_pip_audit + result.by_project_record + len(result.not_audited)
    print(
        f"Audited {total} pins: {result.by_pip_audit} by pip-audit (per-release records), "
        f"{result.by_project_record} by their project records (pinned at the latest release)."
    )
    if result.not_audited:
        print(
            f"Not audited ({len(result.not_audited)}, below their latest release, whose per-release "
            "record did not answer): " + ", ".join(result.not_audited)
        )
    for why in (f"  ignored {vuln}: {reason}" for vuln, reason in IGNORED.items()):
        print(why)
    if result.vulnerable:
        print("Known vulnerabilities:\n  " + "\n  ".join(result.vulnerable))
        return 1
    print("No known vulnerabilities in the audited pins.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
