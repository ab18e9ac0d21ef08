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
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from jaxlab.envs import env_name_problem, observation_shape


class SpecError(ValueError):
    """A spec or command-line problem, phrased for the user in one line."""


REQUIRED = object()  # the default of a key every spec must give


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: its default (or REQUIRED), accepted type and allowed range."""

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
    "REINFORCE": {
        "name": _choice("REINFORCE", "REINFORCE"),
        "gamma": _float(0.99, 0.0, 1.0),
        "center_return": Field(True, "bool"),  # subtract the batch's mean return (SLM Lab's baseline)
        "entropy_coef_spec": _schedule(0.01),
        "training_frequency": _int(128, 1),  # vector steps per update (the on-policy batch is x num_envs)
    },
    "A2C": {
        "name": _choice("A2C", "A2C"),
        "gamma": _float(0.99, 0.0, 1.0),
        "lam": _float(0.95, 0.0, 1.0, nullable=True),  # GAE when set; null: n-step returns
        "num_step_returns": _int(None, 1, nullable=True),
        "entropy_coef_spec": _schedule(0.01),
        "val_loss_coef": _float(0.5, 0.0),
        "training_frequency": _int(32, 1),  # vector steps per update (the on-policy batch is x num_envs)
    },
}


def _dqn_schema(name: str) -> dict:
    """DQN and DoubleDQN (SLM Lab's keys; see algos/dqn.py for their vectorised reading)."""
    return {
        "name": _choice(name, name),
        "action_pdtype": _choice("Argmax", "Argmax", "Categorical"),
        "action_policy": _choice("epsilon_greedy", "epsilon_greedy", "boltzmann"),
        "explore_var_spec": {
            **_schedule(1.0),
            "name": _choice("linear_decay", "no_decay", "linear_decay", "rate_decay"),
            "end_val": _float(0.1, 0.0),
            "end_step": _int(10_000),
        },
        "gamma": _float(0.99, 0.0, 1.0),
        "training_frequency": _int(1, 1),
        "training_start_step": _int(32),
        "training_iter": _int(1, 1),
        "training_batch_iter": _int(1, 1),
    }


ALGORITHM_SCHEMAS["DQN"] = _dqn_schema("DQN")
ALGORITHM_SCHEMAS["DoubleDQN"] = _dqn_schema("DoubleDQN")

# The DQN family's net: a Q network (dueling or not), its loss, and how the target network follows it.
Q_NET_SCHEMA = {
    **{key: value for key, value in NET_SCHEMA.items() if key not in ("shared", "log_std_init")},
    "type": _choice("MLPNet", "MLPNet", "ConvNet", "DuelingMLPNet", "DuelingConvNet"),
    "loss_spec": {"name": _choice("SmoothL1Loss", "SmoothL1Loss", "MSELoss")},
    "update_type": _choice("replace", "replace", "polyak"),
    "update_frequency": _int(1000, 1),  # frames between target updates
    "polyak_coef": _float(0.005, 0.0, 1.0),  # weight of the online net at a polyak update (SLM Lab's)
}

# `agent.memory`: the replay memory of off-policy algorithms (algos/replay.py).
MEMORY_SCHEMA = {
    "name": _choice("Replay", "Replay", "PrioritizedReplay"),
    "batch_size": _int(32, 1),
    "max_size": _int(10_000, 1),
    "alpha": _float(0.6, 0.0),  # PrioritizedReplay: priority exponent
    "epsilon": _float(1e-4, 0.0, low_open=True),  # PrioritizedReplay: added to |td|
    "beta": _float(0.4, 0.0, 1.0),  # PrioritizedReplay: IS exponent at frame 0, annealed to 1 at max_frame
}

NET_SCHEMAS = {"DQN": Q_NET_SCHEMA, "DoubleDQN": Q_NET_SCHEMA}  # algorithms whose net is not NET_SCHEMA
MEMORY_SCHEMAS = {"DQN": MEMORY_SCHEMA, "DoubleDQN": MEMORY_SCHEMA}  # algorithms with agent.memory

ALGORITHM_SCHEMAS["SAC"] = {
    "name": _choice("SAC", "SAC"),
    "gamma": _float(0.99, 0.0, 1.0),
    "training_frequency": _int(1, 1),  # frames between trainings (see algos/sac.py)
    "training_start_step": _int(256),  # frames of uniform random actions before the first training
    "training_iter": _int(1, 1),  # gradient steps per training
}
# SAC's actor (`net`) and critics (`critic_net`: agent.net's settings when absent, as in SLM Lab v5). No
# shared body, no state-independent log-std; the target critics follow by polyak averaging every step.
SAC_NET_SCHEMA = {
    **{key: value for key, value in NET_SCHEMA.items() if key not in ("shared", "log_std_init")},
    "update_type": _choice("polyak", "polyak"),
    "polyak_coef": _float(0.005, 0.0, 1.0),  # weight of the online critic at each target update (SLM Lab's)
}
NET_SCHEMAS["SAC"] = SAC_NET_SCHEMA
MEMORY_SCHEMAS["SAC"] = MEMORY_SCHEMA
CRITIC_NET_SCHEMAS = {"SAC": SAC_NET_SCHEMA}  # algorithms with an agent.critic_net section

ENV_SCHEMA = {
    "name": Field(REQUIRED, "str"),
    "num_envs": _int(4, 1),
    "max_frame": _int(REQUIRED, 1),
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
    # search mode: successive halving of trials in frames (ASHA's grace_period and reduction_factor); 0 frames: off
    "search_scheduler": {"grace_period": _int(0), "reduction_factor": _int(3, 2)},
    "search_backend": _choice("local", "local", "ray"),
    "search_resources": {"num_cpus": _float(1.0, 0.0), "num_gpus": _float(0.0, 0.0)},  # per Ray trial
}

# What a run adds to `meta` in its trial spec (io/specs.py); ignored when the trial spec is run again.
RUNTIME_META_KEYS = (
    "experiment",
    "experiment_ts",
    "trial",
    "session",
    "predir",
    "prepath",
    "graph_prepath",
    "info_prepath",
    "log_prepath",
    "model_prepath",
    "session_keys",
    "git_sha",
    "versions",
    "device",
    "random_baseline",
    "compile_seconds",
    "observation_shape",
    "action_space",
    "search_sample",
    "diverged_sessions",
)

REQUIRED_KEYS = ("agent.algorithm.name", "env.name", "env.max_frame")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NAME_MAX_LENGTH = 200  # the run folder adds _YYYY_MM_DD_HHMMSS; most filesystems stop at 255 bytes
INT_MAX = 2**31 - 1  # JAX counts, indexes and shapes in int32
MAX_SPEC_BYTES = 2**20  # a spec is a few KB; this refuses a wrong path to a large file before reading it all

# Values echoed in error messages are cut short: a hostile spec could hold a huge string or a YAML alias bomb.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 8, 4, 60, 60


def _show(value: Any) -> str:
    return _SHORT.repr(value)


def _schema_for(algorithm_name: str) -> dict:
    return {
        "name": Field("jaxlab", "str"),
        "agent": {
            "algorithm": ALGORITHM_SCHEMAS[algorithm_name],
            "net": NET_SCHEMAS.get(algorithm_name, NET_SCHEMA),
            **({"memory": MEMORY_SCHEMAS[algorithm_name]} if algorithm_name in MEMORY_SCHEMAS else {}),
            **({"critic_net": CRITIC_NET_SCHEMAS[algorithm_name]} if algorithm_name in CRITIC_NET_SCHEMAS else {}),
        },
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
        raise SpecError(f"{path} must be true or false, got {_show(value)}")
    if kind in ("int", "float"):
        number = value
        if isinstance(value, str):
            try:
                number = float(value)  # YAML 1.1 reads 1e-5 and 5e5 as strings
            except ValueError:
                raise SpecError(f"{path} must be a number ({_describe(spec_field)}), got {_show(value)}") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise SpecError(f"{path} must be a number ({_describe(spec_field)}), got {_show(value)}")
        if isinstance(number, float) and not math.isfinite(number):  # ints are finite; math.isfinite overflows
            raise SpecError(f"{path} must be a finite number ({_describe(spec_field)}), got {_show(value)}")
        if kind == "int":
            if isinstance(number, float) and not number.is_integer():
                raise SpecError(f"{path} must be a whole number ({_describe(spec_field)}), got {_show(value)}")
            number = int(number)
        if isinstance(number, int) and abs(number) > INT_MAX:  # also before float(): a huge int overflows it
            raise SpecError(f"{path} = {_show(value)} is too large — at most {INT_MAX:,} (jaxlab counts in int32)")
        if kind == "float":
            number = float(number)
        if not spec_field.check(number):
            raise SpecError(f"{path} = {_show(value)} is out of range — it must be {spec_field.rule}")
        return number
    if kind == "str":
        if not isinstance(value, str):
            raise SpecError(f"{path} must be a string, got {_show(value)}")
        if spec_field.choices and value not in spec_field.choices:
            hint = _suggest(value, spec_field.choices)
            raise SpecError(f"{path} = {_show(value)} is not one of {', '.join(map(str, spec_field.choices))}{hint}")
        return value
    if kind == "int_list":
        if not isinstance(value, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            raise SpecError(f"{path} must be {spec_field.rule}, got {_show(value)}")
        if not spec_field.check(value) or any(abs(x) > INT_MAX for x in value):
            raise SpecError(
                f"{path} = {_show(value)} is out of range — it must be {spec_field.rule} up to {INT_MAX:,}"
            )
        return list(value)
    if kind == "conv_layers":
        ok = isinstance(value, list) and value and all(
            isinstance(layer, list)
            and len(layer) == 3
            and all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= INT_MAX for x in layer)
            for layer in value
        )
        if not ok:
            raise SpecError(f"{path} must be {spec_field.rule}, got {_show(value)}")
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
            where = _show(f"{path}.{key}" if path else str(key)).strip("'\"")
            close = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
            fix = f"did you mean {path + '.' if path else ''}{close[0]}?" if close else f"known keys: {', '.join(schema)}"
            raise SpecError(f"unknown key {where} — {fix}")
    out = {}
    for key, sub in schema.items():
        where = f"{path}.{key}" if path else key
        if isinstance(sub, dict):
            out[key] = _validate(raw.get(key), sub, where)
        elif key not in raw and sub.default is REQUIRED:
            raise SpecError(f"{where} is required — every spec gives {', '.join(REQUIRED_KEYS)}")
        else:
            out[key] = _coerce(where, copy.deepcopy(raw.get(key, sub.default)), sub)
    return out


def _check_relations(spec: dict) -> None:
    """Checks that span several keys."""
    name = spec["name"]
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise SpecError(
            f"name {_show(name)} is not usable as a folder name — use letters, digits, '_', '-' or '.'"
            " (no '/' or '..')"
        )
    if len(name) > NAME_MAX_LENGTH:
        raise SpecError(f"name is {len(name)} characters long — use at most {NAME_MAX_LENGTH} for a folder name")
    if problem := env_name_problem(spec["env"]["name"]):
        raise SpecError(problem)
    algo, env, net = spec["agent"]["algorithm"], spec["env"], spec["agent"]["net"]
    if net["type"].endswith("ConvNet"):
        _check_conv(net["conv_hid_layers"], observation_shape(env["name"]), env["name"], net["type"])
    if algo["name"] == "PPO":
        batch = algo["time_horizon"] * env["num_envs"]
        if batch % algo["minibatch_size"]:
            raise SpecError(
                f"agent.algorithm.minibatch_size = {algo['minibatch_size']} must divide time_horizon x num_envs"
                f" = {batch} — pick a divisor of {batch}"
            )
    meta = spec["meta"]
    grace, row_frames = meta["search_scheduler"]["grace_period"], meta["log_frequency"]
    if meta["rigorous_eval"]:
        row_frames = max(row_frames, meta["eval_frequency"])
    if 0 < grace < 3 * row_frames:
        raise SpecError(
            f"meta.search_scheduler.grace_period = {grace} frames would stop trials before they have 3 DataFrame rows"
            f" — make it at least {3 * row_frames} (3 x log_frequency / eval_frequency) or 0 for no early stopping"
        )
    if algo["name"] in ("DQN", "DoubleDQN"):
        _check_dqn(algo, spec["agent"]["memory"], env)
    if algo["name"] == "SAC":
        _check_replay(algo, spec["agent"]["memory"], env)
        critic = spec["agent"]["critic_net"]
        if critic["type"] == "ConvNet":
            obs_shape = observation_shape(env["name"])
            _check_conv(critic["conv_hid_layers"], obs_shape, env["name"], "ConvNet", "agent.critic_net")
    if algo["name"] == "REINFORCE" and net["shared"]:
        raise SpecError(
            "agent.net.shared = true, but REINFORCE has no critic to share a body with — set shared: false"
        )
    if algo["name"] == "A2C" and (algo["lam"] is None) == (algo["num_step_returns"] is None):
        raise SpecError(
            "agent.algorithm: A2C needs exactly one of lam (GAE) and num_step_returns (n-step returns)"
            " — set the other to null"
        )
    for key in ("clip_eps_spec", "entropy_coef_spec", "explore_var_spec"):
        sched = algo.get(key)
        if sched and sched["name"] != "no_decay" and sched["end_step"] <= sched["start_step"]:
            raise SpecError(
                f"agent.algorithm.{key}.end_step must be greater than start_step for {sched['name']}"
            )
        if sched and sched["name"] == "rate_decay" and min(sched["start_val"], sched["end_val"]) <= 0:
            raise SpecError(f"agent.algorithm.{key}: rate_decay needs start_val and end_val > 0 — or use linear_decay")


def _check_dqn(algo: dict, memory: dict, env: dict) -> None:
    """The DQN family: actions, training cadence and memory sizes that fit together."""
    if not _discrete_actions(env["name"]):
        raise SpecError(
            f"agent.algorithm.name = {algo['name']} needs discrete actions, but {env['name']} has continuous ones"
            " — use a discrete env or a continuous-action algorithm"
        )
    pdtype = {"epsilon_greedy": "Argmax", "boltzmann": "Categorical"}[algo["action_policy"]]
    if algo["action_pdtype"] != pdtype:
        raise SpecError(
            f"agent.algorithm.action_pdtype = {algo['action_pdtype']} does not go with action_policy ="
            f" {algo['action_policy']} — use action_pdtype: {pdtype}"
        )
    _check_replay(algo, memory, env)


def _check_replay(algo: dict, memory: dict, env: dict) -> None:
    """Off-policy algorithms: a training cadence and memory sizes that fit together."""
    frequency, num_envs = algo["training_frequency"], env["num_envs"]
    if frequency > num_envs and frequency % num_envs:
        raise SpecError(
            f"agent.algorithm.training_frequency = {frequency} frames is not a whole number of vector steps of"
            f" env.num_envs = {num_envs} — use a multiple of {num_envs} (or at most {num_envs}: train every step)"
        )
    if memory["batch_size"] > memory["max_size"]:
        raise SpecError(
            f"agent.memory.batch_size = {memory['batch_size']} is larger than agent.memory.max_size ="
            f" {memory['max_size']} — lower batch_size or raise max_size"
        )
    frames_per_update = max(frequency, num_envs)
    if memory["max_size"] < frames_per_update:
        raise SpecError(
            f"agent.memory.max_size = {memory['max_size']} cannot hold the {frames_per_update} frames collected"
            " between trainings (max(training_frequency, env.num_envs)) — raise max_size"
        )


def _discrete_actions(env_name: str) -> bool:
    import gymnax

    env, env_params = gymnax.make(env_name)
    return hasattr(env.action_space(env_params), "n")


def _check_conv(
    layers: list, obs_shape: tuple[int, ...], env_name: str, net_type: str, section: str = "agent.net"
) -> None:
    if len(obs_shape) != 3:
        mlp = net_type.replace("ConvNet", "MLPNet")
        raise SpecError(
            f"{section}.type = {net_type} needs image observations, but {env_name} has shape {list(obs_shape)}"
            f" — use {mlp}"
        )
    size = min(obs_shape[:2])
    for i, (_, kernel, stride) in enumerate(layers):
        if kernel > size:
            raise SpecError(
                f"{section}.conv_hid_layers[{i}] has kernel {kernel} but its input is only {size} pixels wide"
                " — use smaller kernels or fewer layers"
            )
        size = (size - kernel) // stride + 1


def validate(raw: Any) -> dict:
    """Return the full spec (defaults filled) for a raw spec mapping, or raise SpecError."""
    if not isinstance(raw, dict):
        raise SpecError(f"a spec must be a YAML mapping of name, agent, env and meta — got {type(raw).__name__}")
    for section in ("agent", "env", "meta"):
        if section in raw and not isinstance(raw[section], dict):
            raise SpecError(f"{section} must be a mapping of keys, got {type(raw[section]).__name__}")
    agent = raw.get("agent") or {}
    algorithm = agent.get("algorithm") if isinstance(agent.get("algorithm"), dict) else {}
    if "name" not in algorithm:
        raise SpecError(f"agent.algorithm.name is required — every spec gives {', '.join(REQUIRED_KEYS)}")
    algorithm_name = algorithm["name"]
    if not isinstance(algorithm_name, str) or algorithm_name not in ALGORITHM_SCHEMAS:  # a list is unhashable
        hint = _suggest(str(algorithm_name), ALGORITHM_SCHEMAS)
        raise SpecError(
            f"agent.algorithm.name = {_show(algorithm_name)} is not a known algorithm"
            f" (known: {', '.join(ALGORITHM_SCHEMAS)}){hint}"
        )
    if algorithm_name in CRITIC_NET_SCHEMAS and "critic_net" not in agent:
        # SLM Lab v5: the critics use agent.net's settings unless agent.critic_net is given.
        raw = {**raw, "agent": {**agent, "critic_net": copy.deepcopy(agent.get("net"))}}
    search = raw.get("search")
    spec = _validate({k: v for k, v in raw.items() if k != "search"}, _schema_for(algorithm_name), "")
    _check_relations(spec)
    if search is not None:
        spec["search"] = _check_search(search, _schema_for(algorithm_name))
    return spec


# SLM Lab's search block, `dotted.key__fn: args`, with Ray Tune's meaning of each function.
SEARCH_FUNCTIONS = {
    "uniform": "[low, high]",
    "loguniform": "[low, high] with low > 0",
    "choice": "a non-empty list of values",
    "randint": "[low, high]: integers, high excluded",
    "qrandint": "[low, high, q]: multiples of q, high included",
}
MAX_TRIALS = 10_000  # each trial is validated and built up front (a few ms each)
SEARCHABLE = ("agent", "env")  # name and meta shape the experiment itself, so they are not searched


def _flatten_search(raw: Any, path: str = "") -> dict[str, Any]:
    """The search block's leaves as {"agent.algorithm.gamma__uniform": args}, from nested or dotted keys."""
    if not isinstance(raw, dict):
        where = f"search.{path}" if path else "search"
        raise SpecError(
            f"{_show(where).strip(chr(39))} must be a mapping of key__function: args"
            " — e.g. agent.algorithm.gamma__uniform: [0.95, 0.999]"
        )
    flat = {}
    for key, value in raw.items():
        dotted = f"{path}.{key}" if path else str(key)
        if "__" in str(key):
            flat[dotted] = value
        else:
            flat.update(_flatten_search(value, dotted))
    return flat


def _check_search(raw: Any, schema: dict) -> dict[str, Any]:
    """The validated search block, flat and sorted: {"agent.algorithm.gamma__uniform": [0.95, 0.999], ...}."""
    flat = _flatten_search(raw)
    if not flat:
        raise SpecError("search is empty — give at least one key__function: args, e.g. agent.algorithm.gamma__uniform: [0.95, 0.999]")
    searched = {}
    for dotted, args in sorted(flat.items()):
        key, function = dotted.rsplit("__", 1)
        where = f"search.{_show(dotted).strip(chr(39))}"
        if function not in SEARCH_FUNCTIONS:
            raise SpecError(
                f"{where}: unknown search function {_show(function)} — use one of"
                f" {', '.join(SEARCH_FUNCTIONS)}{_suggest(function, SEARCH_FUNCTIONS)}"
            )
        parts = key.split(".")
        if parts[0] not in SEARCHABLE:
            raise SpecError(f"{where}: only agent.* and env.* keys can be searched, not {_show(parts[0])}")
        node = schema
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = list(node) if isinstance(node, dict) else []
                raise SpecError(f"{where}: {'.'.join(parts[: depth + 1])} is not a spec key{_suggest(part, known)}")
            node = node[part]
        if isinstance(node, dict):
            raise SpecError(f"{where}: {key} is a section — search one of its keys ({', '.join(node)})")
        if key in searched:
            raise SpecError(f"{where}: {key} is searched twice — keep one function for it")
        _check_search_args(where, function, args)
        searched[key] = dotted
    return {dotted: flat[dotted] for dotted in searched.values()}


def _check_search_args(where: str, function: str, args: Any) -> None:
    def numbers(count: int, integer: bool) -> bool:
        kinds = int if integer else (int, float)
        return (
            isinstance(args, list) and len(args) == count
            and all(isinstance(x, kinds) and not isinstance(x, bool) and math.isfinite(x) for x in args)
        )

    fix = f" — give {SEARCH_FUNCTIONS[function]}, got {_show(args)}"
    if function == "choice":
        if not isinstance(args, list) or not args:
            raise SpecError(f"{where} needs {SEARCH_FUNCTIONS[function]}, got {_show(args)}")
        return
    if function in ("uniform", "loguniform"):
        ok = numbers(2, integer=False) and args[0] < args[1] and (function == "uniform" or args[0] > 0)
    elif function == "randint":
        ok = numbers(2, integer=True) and args[0] < args[1]
    else:  # qrandint
        ok = numbers(3, integer=True) and args[2] > 0 and args[0] <= args[1] and bool(_multiples(*args))
    if not ok:
        raise SpecError(f"{where}: bad range{fix}")


def _multiples(low: int, high: int, q: int) -> range:
    return range(-(-low // q) * q, high + 1, q)


def _draw(rng: np.random.Generator, function: str, args: list) -> Any:
    """One value from a search function, as a plain JSON value."""
    if function == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if function == "loguniform":
        return float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    if function == "choice":
        return copy.deepcopy(args[int(rng.integers(len(args)))])
    if function == "randint":
        return int(rng.integers(args[0], args[1]))
    multiples = _multiples(*args)
    return int(multiples[int(rng.integers(len(multiples)))])


def sample_trials(spec: dict) -> list[tuple[dict, dict]]:
    """`meta.max_trial` trial specs drawn from the spec's search block (seeded by meta.random_seed), each with
    its sample {dotted key: value}. Each is validated like any spec, so a range that reaches a bad value says so."""
    if spec["meta"]["max_trial"] > MAX_TRIALS:
        raise SpecError(
            f"meta.max_trial = {spec['meta']['max_trial']:,}: a search draws, checks and builds every trial before it"
            f" starts — use at most {MAX_TRIALS:,}"
        )
    rng = np.random.default_rng(spec["meta"]["random_seed"])
    base = {k: v for k, v in spec.items() if k != "search"}
    trials = []
    for trial in range(spec["meta"]["max_trial"]):
        sample = {dotted.rsplit("__", 1)[0]: _draw(rng, dotted.rsplit("__", 1)[1], args) for dotted, args in spec["search"].items()}
        raw = copy.deepcopy(base)
        for key, value in sample.items():
            *sections, leaf = key.split(".")
            node = raw
            for section in sections:
                node = node[section]
            node[leaf] = value
        try:
            trials.append((validate(raw), sample))
        except SpecError as error:
            raise SpecError(f"search: trial {trial} drew {_show(sample)}, which is not a valid spec: {error}") from None
    return trials


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
            return f"{where} is {_show(a)} here but {_show(b)} in the run"
    return ""


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `-s dotted.key=value` to `raw` in place; the value is parsed as YAML."""
    if "=" not in assignment:
        raise SpecError(f"-s {_show(assignment)} is not key=value — write e.g. -s env.num_envs=8")
    dotted, text = assignment.split("=", 1)
    keys = dotted.strip().split(".")
    if not all(keys):
        raise SpecError(f"-s {_show(assignment)}: {_show(dotted)} is not a dotted key like meta.max_session")
    try:
        value = _parse(text) if text.strip() else None
    except SpecError as problem:
        raise SpecError(f"-s {_show(assignment)}: the value is not valid YAML{problem}") from None
    node = raw
    for i, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise SpecError(f"-s {_show(assignment)}: {'.'.join(keys[: i + 1])} is a value, not a section")
        node = child
    node[keys[-1]] = value


def _parse(text: str, as_json: bool = False) -> Any:
    """YAML through `yaml.safe_load` (no Python tags: a spec never runs code), or JSON. Raises SpecError whose
    message is the problem, as " at line L, column C: reason" or ": reason", for the caller to prefix."""
    try:
        return json.loads(text) if as_json else yaml.safe_load(text)
    except RecursionError:
        raise SpecError(": it is nested too deeply") from None
    except Exception as error:  # noqa: BLE001 — safe_load's scalar constructors also raise ValueError, AttributeError
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
        raise SpecError(f"{path} is over {MAX_SPEC_BYTES // 2**20} MiB — a spec is a few KB of YAML; check the path")
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
        raw = _parse(text, as_json)
    except SpecError as problem:
        raise SpecError(f"{path} is not valid {'JSON' if as_json else 'YAML'}{problem}") from None
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

