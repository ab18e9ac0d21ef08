"""Reading spec files in SLM Lab's format: a YAML (or JSON) mapping of spec names to specs, read through
`yaml.safe_load` (a spec never runs code; anchors and `<<` merge keys work; top-level keys starting with `_`
hold anchors, not specs). A file whose top level is one spec (it has `agent`: a trial spec a run wrote) is
that spec. The command line's `-s K=V` fills `${K}` placeholders as SLM Lab does, or, for a dotted K (or a
K with no placeholder), overrides that key. Every problem is one line naming the file or the key."""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

import yaml

from jaxlab.schema import REQUIRED_KEYS, SpecError, show

MAX_SPEC_BYTES = 2**20  # a spec is a few KB; this refuses a wrong path to a large file before reading it all
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass(frozen=True)
class SpecFile:
    """A spec file's specs by name, after `${var}` substitution; `env_suffix` is SLM Lab's name suffix from a
    `-s env=...` substitution (`-s env=ALE/Pong-v5` -> `pong`)."""

    path: str
    specs: dict[str, dict]
    env_suffix: str | None

    def spec(self, name: str | None) -> dict:
        """The raw spec `name` (or the file's only one), named as SLM Lab names it."""
        if name is None:
            if len(self.specs) != 1:
                raise SpecError(
                    f"{self.path} holds {len(self.specs)} specs — name one: {', '.join(self.specs)}"
                )
            (name,) = self.specs
        if name not in self.specs and list(self.specs) == [FLAT]:
            raise SpecError(
                f"{self.path} holds one spec, not named ones: give no SPEC_NAME (not {show(name)})"
            )
        if name not in self.specs:
            close = difflib.get_close_matches(name, list(self.specs), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"it holds {', '.join(self.specs)}"
            raise SpecError(f"{self.path} has no spec {show(name)} — {hint}")
        raw = copy.deepcopy(self.specs[name])
        if not isinstance(raw, dict):
            raise SpecError(f"{self.path}: spec {show(name)} must be a mapping, got {type(raw).__name__}")
        raw["name"] = raw.get("name", name) if name == FLAT else name
        if self.env_suffix:
            raw["name"] = f"{raw['name']}_{self.env_suffix}"
        if unfilled := sorted(set(PLACEHOLDER.findall(json.dumps(raw)))):
            placeholders = ", ".join(f"${{{var}}}" for var in unfilled)
            raise SpecError(
                f"spec {raw['name']} has {placeholders} left unfilled — give each with -s, e.g."
                f" -s {unfilled[0]}=..."
            )
        return raw


FLAT = ""  # the name under which a file holding one spec at its top level keeps it
SECTIONS = ("agent", "env", "meta", "search")


def read_specs(path: str, assignments: list[str] = ()) -> tuple[SpecFile, list[str]]:
    """The specs of a file, with the `-s` assignments that fill its `${var}` placeholders substituted; returns
    it and the other assignments (the overrides)."""
    text, as_json = read_text(path)
    placeholders = set(PLACEHOLDER.findall(text))
    overrides, env_suffix = [], None
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        if key.strip() not in placeholders:
            overrides.append(assignment)
            continue
        text = substitute(text, key.strip(), value)
        if key.strip() == "env":
            env_suffix = value.split("/")[-1].split("-")[0].lower()
    try:
        raw = parse(text, as_json)
    except SpecError as problem:
        raise SpecError(f"{path} is not valid {'JSON' if as_json else 'YAML'}{problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path} must hold a mapping of spec names to specs, not a {type(raw).__name__}")
    flat = bool(
        {"agent", "env", "meta"} & set(raw)
    )  # a spec itself (a trial spec a run wrote), not named ones
    specs = {FLAT: raw} if flat else {k: v for k, v in raw.items() if not str(k).startswith("_")}
    if not specs:
        raise SpecError(
            f"{path} holds no spec — a spec file maps spec names to specs (keys starting with _ are anchors)"
        )
    return SpecFile(path, specs, env_suffix), overrides


def substitute(text: str, var: str, value: str) -> str:
    """SLM Lab's `${var}` substitution: a number replaces a quoted placeholder as a number."""
    try:
        number = float(value)
    except ValueError:
        return text.replace(f"${{{var}}}", value)
    canonical = str(int(number)) if number.is_integer() else repr(number)
    for quote in ('"', "'"):
        text = text.replace(f"{quote}${{{var}}}{quote}", canonical)
    return text.replace(f"${{{var}}}", canonical)


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
    if len(keys) == 1 and keys[0] in SECTIONS and not isinstance(value, dict):
        key = "env.name" if keys[0] == "env" else f"{keys[0]}.<key>"
        raise SpecError(
            f"-s {show(assignment)}: the spec has no ${{{keys[0]}}} placeholder to fill — set a key with a"
            f" dotted name, e.g. -s {key}={text.strip()}"
        )
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


def read_text(path: str) -> tuple[str, bool]:
    """A spec file's text (and whether it is JSON), with one-line errors."""
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
        raise SpecError(f"{path} is empty — a spec gives at least {', '.join(REQUIRED_KEYS)}")
    return text, path.endswith(".json")


def read_file(path: str) -> dict:
    """A file's one spec, or its only named spec, raw (a trial spec a run wrote, for instance)."""
    return read_specs(path)[0].spec(None)
