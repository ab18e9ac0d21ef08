"""Specs: one YAML file in SLM Lab's vocabulary, parsed once, defaulted and validated.

A spec is a nested dict (`name`, `agent.{algorithm,net}`, `env`, `meta`). `load` reads the file,
applies `-s dotted.key=value` overrides, fills defaults from the schema below and checks every
key, type and range; the result is a plain JSON-serialisable dict that algorithms turn into
their typed `Static` / `HParams` objects. Every problem raises `SpecError` with one line that
names the key and the fix.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from jaxlab.envs import env_name_problem, observation_shape


class SpecError(ValueError):
    """A spec or command-line problem, phrased for the user in one line."""


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: its default, accepted type and allowed range."""

    default: Any
    kind: str  # "int", "float", "bool", "str", "int_list", "conv_layers"
    rule: str = ""  # the range in words, for error messages ("> 0")
    check: Callable[[Any], bool] = field(default=lambda _: True)
    choices: tuple = ()
    nullable: bool = False


def _int(default: Any, low: int = 0, nullable: bool = False) -> Field:
    return Field(default, "int", f">= {low}", lambda v: v >= low, nullable=nullable)


def _float(default: Any, low: float, high: float = math.inf, low_open: bool = False, nullable: bool = False) -> Field:
    rule = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high < math.inf else "")
    return Field(
        default, "float", rule, lambda v: (v > low if low_open else v >= low) and v <= high, nullable=nullable
    )


def _choice(default: Any, *choices: str) -> Field:
    return Field(default, "str", choices=choices)


def _schedule(start_val: float) -> dict:
    """SLM Lab's variable schedule (`*_spec`), in frames."""
    return {
        "name": _choice("no_decay", "no_decay", "linear_decay", "rate_decay"),
        "start_val": _float(start_val, 0.0),
        "end_val": _float(start_val, 0.0),
        "start_step": _int(0),
        "end_step": _int(0),
    }


ACTIVATIONS = ("relu", "tanh", "elu", "leaky_relu", "selu", "sigmoid", "silu")
INIT_FNS = ("orthogonal_", "xavier_uniform_", "kaiming_uniform_")

NET_SCHEMA = {
    "type": _choice("MLPNet", "MLPNet", "ConvNet"),
    "shared": Field(False, "bool"),
    "hid_layers": Field([64, 64], "int_list", "a list of positive ints", lambda v: all(x > 0 for x in v)),
    "conv_hid_layers": Field(
        [[16, 3, 1]], "conv_layers", "a list of [out_channels, kernel_size, stride] with positive ints"
    ),
    "hid_layers_activation": _choice("tanh", *ACTIVATIONS),
    "init_fn": _choice("orthogonal_", *INIT_FNS),
    "log_std_init": _float(0.0, -20.0, 2.0),
    "clip_grad_val": _float(0.5, 0.0, low_open=True, nullable=True),
    "optim_spec": {
        "name": _choice("Adam", "Adam", "AdamW", "RMSprop", "SGD"),
        "lr": _float(2.5e-4, 0.0, low_open=True),
        "eps": _float(1e-5, 0.0, low_open=True),
    },
    "lr_scheduler_spec": {"name": Field(None, "str", choices=("LinearToZero",), nullable=True)},
}

ALGORITHM_SCHEMAS = {
    "PPO": {
        "name": _choice("PPO", "PPO"),
        "gamma": _float(0.99, 0.0, 1.0),
        "lam": _float(0.95, 0.0, 1.0),
        "clip_eps_spec": _schedule(0.2),
        "entropy_coef_spec": _schedule(0.01),
        "val_loss_coef": _float(0.5, 0.0),
        "clip_vloss": Field(False, "bool"),
        "normalize_advantages": Field(True, "bool"),
        "time_horizon": _int(128, 1),
        "minibatch_size": _int(128, 1),
        "training_epoch": _int(4, 1),
    },
}

ENV_SCHEMA = {
    "name": Field("CartPole-v1", "str"),
    "num_envs": _int(4, 1),
    "max_frame": _int(500_000, 1),
    "normalize_obs": Field(False, "bool"),
    "normalize_reward": Field(False, "bool"),
}

META_SCHEMA = {
    "max_session": _int(4, 1),
    "max_trial": _int(1, 1),
    "log_frequency": _int(2048, 1),
    "eval_frequency": _int(20480, 1),
    "rigorous_eval": _int(8, 0),
    "random_seed": _int(0, 0),
}

# What a run adds to `meta` in its trial spec (io/specs.py); ignored when the trial spec is run again.
RUNTIME_META_KEYS = (
    "experiment_ts",
    "trial",
    "session_keys",
    "git_sha",
    "versions",
    "device",
    "random_baseline",
    "compile_seconds",
    "observation_shape",
    "action_space",
)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _schema_for(algorithm_name: str) -> dict:
    return {
        "name": Field("jaxlab", "str"),
        "agent": {"algorithm": ALGORITHM_SCHEMAS[algorithm_name], "net": NET_SCHEMA},
        "env": ENV_SCHEMA,
        "meta": META_SCHEMA,
    }


def _coerce(path: str, value: Any, spec_field: Field) -> Any:
    """Return `value` converted to the field's type, or raise a SpecError naming `path`."""
    if value is None:
        if spec_field.nullable:
            return None
        raise SpecError(f"{path} must not be null — give a value ({_describe(spec_field)})")
    kind = spec_field.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise SpecError(f"{path} must be true or false, got {value!r}")
    if kind in ("int", "float"):
        number = value
        if isinstance(value, str):
            try:
                number = float(value)  # YAML 1.1 reads 1e-5 and 5e5 as strings
            except ValueError:
                raise SpecError(f"{path} must be a number ({_describe(spec_field)}), got {value!r}") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise SpecError(f"{path} must be a finite number ({_describe(spec_field)}), got {value!r}")
        if kind == "int":
            if float(number) != int(number):
                raise SpecError(f"{path} must be a whole number ({_describe(spec_field)}), got {value!r}")
            number = int(number)
        else:
            number = float(number)
        if not spec_field.check(number):
            raise SpecError(f"{path} = {value!r} is out of range — it must be {spec_field.rule}")
        return number
    if kind == "str":
        if not isinstance(value, str):
            raise SpecError(f"{path} must be a string, got {value!r}")
        if spec_field.choices and value not in spec_field.choices:
            hint = _suggest(value, spec_field.choices)
            raise SpecError(f"{path} = {value!r} is not one of {', '.join(map(str, spec_field.choices))}{hint}")
        return value
    if kind == "int_list":
        if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            raise SpecError(f"{path} must be {spec_field.rule}, got {value!r}")
        if not spec_field.check(value):
            raise SpecError(f"{path} = {value!r} is out of range — it must be {spec_field.rule}")
        return list(value)
    if kind == "conv_layers":
        ok = isinstance(value, list) and value and all(
            isinstance(layer, list)
            and len(layer) == 3
            and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in layer)
            for layer in value
        )
        if not ok:
            raise SpecError(f"{path} must be {spec_field.rule}, got {value!r}")
        return [list(layer) for layer in value]
    raise AssertionError(f"unknown field kind {kind}")


def _describe(spec_field: Field) -> str:
    if spec_field.choices:
        return "one of " + ", ".join(map(str, spec_field.choices))
    return spec_field.rule or spec_field.kind


def _suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=0.6)
    return f" — did you mean {close[0]}?" if close else ""


def _validate(raw: Any, schema: dict, path: str) -> dict:
    """Fill defaults and check `raw` against `schema`, recursively."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{path or 'the spec'} must be a mapping of keys, got {type(raw).__name__}")
    for key in raw:
        if key not in schema:
            where = f"{path}.{key}" if path else str(key)
            close = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
            fix = f"did you mean {path + '.' if path else ''}{close[0]}?" if close else f"known keys: {', '.join(schema)}"
            raise SpecError(f"unknown key {where} — {fix}")
    out = {}
    for key, sub in schema.items():
        where = f"{path}.{key}" if path else key
        if isinstance(sub, dict):
            out[key] = _validate(raw.get(key), sub, where)
        else:
            out[key] = _coerce(where, copy.deepcopy(raw.get(key, sub.default)), sub)
    return out


def _check_relations(spec: dict) -> None:
    """Checks that span several keys."""
    name = spec["name"]
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise SpecError(
            f"name {name!r} is not usable as a folder name — use letters, digits, '_', '-' or '.' (no '/' or '..')"
        )
    if problem := env_name_problem(spec["env"]["name"]):
        raise SpecError(problem)
    algo, env, net = spec["agent"]["algorithm"], spec["env"], spec["agent"]["net"]
    if net["type"] == "ConvNet":
        _check_conv(net["conv_hid_layers"], observation_shape(env["name"]), env["name"])
    if algo["name"] == "PPO":
        batch = algo["time_horizon"] * env["num_envs"]
        if batch % algo["minibatch_size"]:
            raise SpecError(
                f"agent.algorithm.minibatch_size = {algo['minibatch_size']} must divide time_horizon x num_envs"
                f" = {batch} — pick a divisor of {batch}"
            )
    for key in ("clip_eps_spec", "entropy_coef_spec"):
        sched = algo.get(key)
        if sched and sched["name"] != "no_decay" and sched["end_step"] <= sched["start_step"]:
            raise SpecError(
                f"agent.algorithm.{key}.end_step must be greater than start_step for {sched['name']}"
            )
        if sched and sched["name"] == "rate_decay" and min(sched["start_val"], sched["end_val"]) <= 0:
            raise SpecError(f"agent.algorithm.{key}: rate_decay needs start_val and end_val > 0 — or use linear_decay")


def _check_conv(layers: list, obs_shape: tuple[int, ...], env_name: str) -> None:
    if len(obs_shape) != 3:
        raise SpecError(
            f"agent.net.type = ConvNet needs image observations, but {env_name} has shape {list(obs_shape)} — use MLPNet"
        )
    size = min(obs_shape[:2])
    for i, (_, kernel, stride) in enumerate(layers):
        if kernel > size:
            raise SpecError(
                f"agent.net.conv_hid_layers[{i}] has kernel {kernel} but its input is only {size} pixels wide"
                " — use smaller kernels or fewer layers"
            )
        size = (size - kernel) // stride + 1


def validate(raw: Any) -> dict:
    """Return the full spec (defaults filled) for a raw spec mapping, or raise SpecError."""
    if not isinstance(raw, dict):
        raise SpecError(f"a spec must be a YAML mapping with name, agent, env and meta — got {type(raw).__name__}")
    agent = raw.get("agent") if isinstance(raw.get("agent"), dict) else {}
    algorithm = agent.get("algorithm") if isinstance(agent.get("algorithm"), dict) else {}
    algorithm_name = algorithm.get("name", "PPO")
    if algorithm_name not in ALGORITHM_SCHEMAS:
        hint = _suggest(str(algorithm_name), ALGORITHM_SCHEMAS)
        raise SpecError(
            f"agent.algorithm.name = {algorithm_name!r} is not a known algorithm"
            f" (known: {', '.join(ALGORITHM_SCHEMAS)}){hint}"
        )
    spec = _validate(raw, _schema_for(algorithm_name), "")
    _check_relations(spec)
    return spec


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `-s dotted.key=value` to `raw` in place; the value is parsed as YAML."""
    if "=" not in assignment:
        raise SpecError(f"-s {assignment!r} is not key=value — write e.g. -s env.num_envs=8")
    dotted, text = assignment.split("=", 1)
    keys = dotted.strip().split(".")
    if not all(keys):
        raise SpecError(f"-s {assignment!r}: {dotted!r} is not a dotted key like meta.max_session")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0]
        raise SpecError(f"-s {assignment!r}: the value is not valid YAML ({first_line})") from None
    node = raw
    for i, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise SpecError(f"-s {assignment!r}: {'.'.join(keys[: i + 1])} is a value, not a section")
        node = child
    node[keys[-1]] = value


def read_file(path: str) -> dict:
    """Read a YAML (or JSON) spec file into a raw mapping, with one-line errors."""
    if not os.path.exists(path):
        raise SpecError(f"spec file {path} does not exist — check the path (shipped specs are in configs/)")
    if os.path.isdir(path):
        raise SpecError(f"{path} is a folder — give a spec file such as configs/ppo_cartpole.yaml")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise SpecError(f"cannot read spec file {path}: {error.strerror}") from None
    if b"\0" in data:
        raise SpecError(f"{path} is a binary file, not a YAML spec")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not UTF-8 text — save the spec as UTF-8 YAML") from None
    if not text.strip():
        raise SpecError(f"{path} is empty — a spec needs name, agent, env and meta")
    try:
        raw = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(f"{path} is not valid YAML{where}: {reason}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path} must hold a mapping (name, agent, env, meta), not a {type(raw).__name__}")
    return raw


def load(path: str, overrides: list[str] = ()) -> dict:
    """Read, override, default and validate the spec at `path`."""
    raw = read_file(path)
    if isinstance(raw.get("meta"), dict):
        raw["meta"] = {k: v for k, v in raw["meta"].items() if k not in RUNTIME_META_KEYS}
    for assignment in overrides:
        apply_override(raw, assignment)
    return validate(raw)

