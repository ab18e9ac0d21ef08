"""Reading spec files: YAML (or JSON) through `yaml.safe_load`, so a spec never runs code, and the
command line's `-s dotted.key=value` overrides. Every problem is one line naming the file or the key."""

from __future__ import annotations

import json
import os
from typing import Any

import yaml

from jaxlab.schema import REQUIRED_KEYS, SpecError, show

MAX_SPEC_BYTES = 2**20  # a spec is a few KB; this refuses a wrong path to a large file before reading it all


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `-s dotted.key=value` to `raw` in place; the value is parsed as YAML."""
    if "=" not in assignment:
        raise SpecError(f"-s {show(assignment)} is not key=value — write e.g. -s env.num_envs=8")
    dotted, text = assignment.split("=", 1)
    keys = dotted.strip().split(".")
    if not all(keys):
        raise SpecError(f"-s {show(assignment)}: {show(dotted)} is not a dotted key like meta.max_session")
    try:
        value = parse(text) if text.strip() else None
    except SpecError as problem:
        raise SpecError(f"-s {show(assignment)}: the value is not valid YAML{problem}") from None
    node = raw
    for i, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise SpecError(f"-s {show(assignment)}: {'.'.join(keys[: i + 1])} is a value, not a section")
        node = child
    node[keys[-1]] = value


def parse(text: str, as_json: bool = False) -> Any:
    """YAML through `yaml.safe_load` (no Python tags: a spec never runs code), or JSON. Raises SpecError whose
    message is the problem, as " at line L, column C: reason" or ": reason", for the caller to prefix."""
    try:
        return json.loads(text) if as_json else yaml.safe_load(text)
    except RecursionError:
        raise SpecError(": it is nested too deeply") from None
    except Exception as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or (str(error).splitlines() or [type(error).__name__])[0]
        raise SpecError(f"{where}: {reason}") from None


def read_file(path: str) -> dict:
    """Read a YAML (or JSON) spec file into a raw mapping, with one-line errors."""
    if not os.path.exists(path):
        raise SpecError(f"spec file {path} does not exist — check the path (shipped specs are in configs/)")
    if os.path.isdir(path):
        raise SpecError(f"{path} is a folder — give a spec file such as configs/ppo_cartpole.yaml")
    if not os.path.isfile(path):  # a device or a pipe could block or never end
        raise SpecError(f"{path} is not a regular file — give a spec file such as configs/ppo_cartpole.yaml")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise SpecError(f"cannot read spec file {path}: {error.strerror}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{path} is over {MAX_SPEC_BYTES // 2**20} MiB — a spec is a few KB of YAML; check the path"
        )
    if b"\0" in data:
        raise SpecError(f"{path} is a binary file, not a YAML spec")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text — save the spec as UTF-8 YAML") from None
    if not text.strip():
        raise SpecError(f"{path} is empty — a spec gives at least name, {', '.join(REQUIRED_KEYS)}")
    as_json = path.endswith(".json")
    try:
        raw = parse(text, as_json)
    except SpecError as problem:
        raise SpecError(f"{path} is not valid {'JSON' if as_json else 'YAML'}{problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path} must hold a mapping (name, agent, env, meta), not a {type(raw).__name__}")
    return raw
