"""A small Dockerfile reader: per build stage, the image settings a container of that stage starts with.

Enough of Docker's semantics for this repository's Dockerfile: logical lines (`\\` continuations, comments), global
ARGs in FROM, stages built on earlier stages (settings are inherited), ENV in both forms, exec-form ENTRYPOINT, CMD
and HEALTHCHECK, and Docker's rule that setting ENTRYPOINT clears an inherited CMD.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Stage", "read_stages"]


@dataclass
class Stage:
    name: str
    base: str
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    volumes: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)

    @property
    def argv(self) -> list[str]:
        """What a container of this stage runs when `docker run IMAGE` is given no arguments."""
        return self.entrypoint + self.cmd


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def _substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)


def _exec_form(argument: str, instruction: str) -> list[str]:
    try:
        value = json.loads(argument)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{instruction} must use the exec (JSON) form: {argument}") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{instruction} must be a JSON list of strings: {argument}")
    return value


def _env_pairs(argument: str) -> dict[str, str]:
    words = shlex.split(argument)
    if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
        return {words[0]: argument.split(None, 1)[1]}
    return dict(word.split("=", 1) for word in words)


def read_stages(path: Path) -> dict[str, Stage]:
    """The stages of a Dockerfile by name (unnamed stages by index); the last one is the default build target."""
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    for line in _logical_lines(path.read_text("utf-8")):
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        argument = argument.strip()
        if instruction == "ARG" and stage is None:
            name, _, default = argument.partition("=")
            global_args[name] = default
        elif instruction == "FROM":
            words = argument.split()
            words = [w for w in words if not w.startswith("--platform")]
            base = _substitute(words[0], global_args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            parent = stages.get(base)
            stage = copy.deepcopy(parent) if parent else Stage(name, base)
            stage.name, stage.base = name, base
            stages[name] = stage
        elif stage is None:
            continue
        elif instruction == "ENV":
            for key, value in _env_pairs(argument).items():
                stage.env[key] = _substitute(value, stage.env)
        elif instruction == "ENTRYPOINT":
            stage.entrypoint = _exec_form(argument, "ENTRYPOINT")
            stage.cmd = []
        elif instruction == "CMD":
            stage.cmd = _exec_form(argument, "CMD")
        elif instruction == "HEALTHCHECK":
            options = dict(re.findall(r"--([\w-]+)=(\S+)", argument))
            command = re.sub(r"--[\w-]+=\S+\s*", "", argument)
            if not command.upper().startswith("CMD "):
                raise ValueError(f"HEALTHCHECK must run a command: {argument}")
            stage.healthcheck = _exec_form(command[4:].strip(), "HEALTHCHECK CMD")
            stage.healthcheck_options = options
        elif instruction == "USER":
            stage.user = argument
        elif instruction == "VOLUME":
            stage.volumes += _exec_form(argument, "VOLUME") if argument.startswith("[") else argument.split()
        elif instruction == "EXPOSE":
            stage.exposed += argument.split()
    return stages
