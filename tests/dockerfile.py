"""What the Dockerfile's runtime stage takes from the builder, makes writable and runs: read from
the Dockerfile itself, so the tests that start "the image" without Docker follow it."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = "/app"


@dataclass(frozen=True)
class RuntimeStage:
    copies: list[tuple[str, str]]  # (source in the builder, destination), both absolute
    writable: list[str]
    cmd: list[str]
    healthcheck: list[str]


def instructions_of(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = (line.strip() for line in joined.splitlines())
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "")
        for parts in (line.split(None, 1) for line in lines if line and not line.startswith("#"))
    ]


def runtime_stage() -> RuntimeStage:
    """What the Dockerfile's last stage takes from the builder, makes writable and runs."""
    instructions = instructions_of((ROOT / "Dockerfile").read_text())
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    copies: list[tuple[str, str]] = []
    writable: list[str] = []
    cmd: list[str] = []
    healthcheck: list[str] = []
    for name, args in instructions[last_from + 1 :]:
        if name == "COPY" and "--from=builder" in args:
            *sources, dest = [a for a in shlex.split(args) if not a.startswith("--")]
            copies += [
                (s, dest.rstrip("/") + "/" + Path(s).name if dest.endswith("/") else dest)
                for s in sources
            ]
        elif name == "RUN" and (
            made := re.search(r"install -d -o \S+ -g \S+ ((?:/\S+\s*)+)", args)
        ):
            writable += made.group(1).split()
        elif name == "CMD":
            cmd = json.loads(args)
        elif name == "HEALTHCHECK":
            healthcheck = json.loads(args.split(" CMD ", 1)[1])
    return RuntimeStage(copies, writable, cmd, healthcheck)
