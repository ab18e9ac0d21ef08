"""Specs: one YAML file in SLM Lab's vocabulary, parsed once, defaulted and validated.

A spec is a nested dict (`name`, `agent.{algorithm, net, memory?, critic_net?}`, `env`, `meta`, `search?`).
`load` reads the file (`files.py`), applies `-s dotted.key=value` overrides, fills defaults and checks every
key, type and range against the schema: the sections every spec has (`common.py`, `envs.ENV_SCHEMA`) and
the agent sections the algorithm declares (`jaxlab/algos/`, with its own cross-field rules); the search block
has `search_block.py`. The result is a plain JSON-serialisable dict that the algorithm turns into its typed
`Static` / `HParams`. Every problem raises `SpecError` with one line that names the key and the fix.
"""

from __future__ import annotations

from typing import Any

from jaxlab import algos, envs
from jaxlab.schema import INT_MAX, REQUIRED_KEYS, Field, SpecError, show, suggest, validate_section
from jaxlab.spec.common import META_SCHEMA, NAME_FIELD, RUNTIME_META_KEYS, check_name_and_env, check_relations
from jaxlab.spec.files import apply_override, read_file, read_specs
from jaxlab.spec.search_block import check_search

__all__ = [
    "INT_MAX",
    "RUNTIME_META_KEYS",
    "SpecError",
    "first_difference",
    "load",
    "read_file",
    "schema_of",
    "validate",
]


# SLM Lab's net types that jaxlab does not build, and what to use meanwhile.
NETS_NOT_YET = {
    "RecurrentNet": "its GRU/LSTM over seq_len windows is not built yet; use MLPNet or TorchArcNet",
}


def schema_of(algorithm: algos.Algorithm) -> dict:
    """The whole schema of a spec of `algorithm`."""
    agent = {"name": Field(None, "str", nullable=True), **algorithm.schema}  # agent.name: SLM Lab's label
    return {"name": NAME_FIELD, "agent": agent, "env": envs.ENV_SCHEMA, "meta": META_SCHEMA}


def _algorithm_of(raw: dict) -> algos.Algorithm:
    """The algorithm a raw spec names, or a one-line error."""
    for section in ("agent", "env", "meta"):
        if section in raw and not isinstance(raw[section], dict):
            raise SpecError(f"{section} must be a mapping of keys, got {type(raw[section]).__name__}")
    algorithm = (raw.get("agent") or {}).get("algorithm")
    if not isinstance(algorithm, dict) or "name" not in algorithm:
        raise SpecError(f"agent.algorithm.name is required — every spec gives {', '.join(REQUIRED_KEYS)}")
    name = algorithm["name"]
    if name in algos.NOT_YET:
        raise SpecError(
            f"agent.algorithm.name = {name} is SLM Lab's, not yet jaxlab's — jaxlab runs"
            f" {', '.join(algos.ALGORITHMS)}"
        )
    if isinstance(name, str) and name in algos.LABELS:
        raise SpecError(
            f"agent.algorithm.name = {name} — SLM Lab's algorithm is called {algos.LABELS[name]}"
            f" ({name} is a label for agent.name)"
        )
    if not isinstance(name, str) or name not in algos.ALGORITHMS:  # a list is unhashable
        raise SpecError(
            f"agent.algorithm.name = {show(name)} is not a known algorithm"
            f" (known: {', '.join(algos.ALGORITHMS)}){suggest(str(name), algos.ALGORITHMS)}"
        )
    _refuse_nets_not_yet(raw["agent"])
    return algos.get(name)


def _refuse_nets_not_yet(agent: dict) -> None:
    """SLM Lab's net types jaxlab lacks, named before their keys read as misspellings."""
    for section in ("net", "critic_net"):
        net_type = (agent.get(section) or {}).get("type") if isinstance(agent.get(section), dict) else None
        if net_type in NETS_NOT_YET:
            raise SpecError(
                f"agent.{section}.type = {net_type} is SLM Lab's, not yet jaxlab's — {NETS_NOT_YET[net_type]}"
            )


def validate(raw: Any) -> dict:
    """Return the full spec (defaults filled) for a raw spec mapping, or raise SpecError."""
    if not isinstance(raw, dict):
        raise SpecError(
            f"a spec must be a YAML mapping of name, agent, env and meta — got {type(raw).__name__}"
        )
    algorithm = _algorithm_of(raw)
    raw = {**raw, "agent": algorithm.defaults(raw["agent"])}
    search = raw.get("search")
    schema = schema_of(algorithm)
    spec = validate_section({k: v for k, v in raw.items() if k != "search"}, schema, "")
    check_name_and_env(spec)
    env = envs.describe(spec["env"]["name"])
    check_relations(spec, env)
    algorithm.check(spec, env)
    if search is not None:
        spec["search"] = check_search(search, schema)
    return spec


def load(path: str, overrides: list[str] = (), name: str | None = None) -> dict:
    """Read the spec `name` of the file at `path` (its only spec when None), fill its `${var}` placeholders
    and apply the other `-s` overrides, then default and validate it. Runtime meta keys (a trial spec's) are
    dropped: they are what a run wrote, not settings."""
    spec_file, rest = read_specs(path, overrides)
    raw = spec_file.spec(name)
    if isinstance(raw.get("meta"), dict):
        raw["meta"] = {k: v for k, v in raw["meta"].items() if k not in RUNTIME_META_KEYS}
    for assignment in rest:
        apply_override(raw, assignment)
    return validate(raw)


def first_difference(spec: dict, other: dict, path: str = "") -> str:
    """The first key where two validated specs differ, in words ("" when they are equal)."""
    for key in sorted(set(spec) | set(other)):
        where = f"{path}.{key}" if path else key
        if key not in spec or key not in other:
            return f"{where} is in only one of the specs"
        a, b = spec[key], other[key]
        if isinstance(a, dict) and isinstance(b, dict):
            if found := first_difference(a, b, where):
                return found
        elif a != b:
            return f"{where} is {show(a)} here but {show(b)} in the run"
    return ""
