"""The algorithm contract: what the engine, spec validation, io and export ask of an algorithm.

An algorithm is one `Algorithm` record of pure functions and declarations, made in its own file and
registered in `jaxlab/algos/__init__.py` (checked there). The engine calls `init`, `update` and `act`; it
reads the train-state fields of `TrainState` and the `StepMetrics` each update returns. Spec validation
takes the algorithm's spec sections (`schema`), raw-spec defaults (`defaults`) and cross-field rules
(`check`). io writes its DataFrame columns (`columns`) and graphs them, and export rebuilds the networks
from the descriptions of `networks`; none of them looks at an algorithm's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import jax
from flax import struct

from jaxlab.envs import EnvDescription, VecEnv, VecEnvState

# The columns every session DataFrame has (docs/output.md); an algorithm's own columns come after them.
COMMON_COLUMNS = (
    "frame",
    "total_reward",
    "total_reward_ma",
    "loss",
    "fps",
    "wall_t",
    "t",
    "epi",
    "opt_step",
    "lr",
)
SPEC_SECTIONS = ("algorithm", "net", "memory", "critic_net")  # the agent sections an algorithm may declare


@runtime_checkable
class TrainState(Protocol):
    """The fields of one session's train state that the engine reads (each algorithm's state has more)."""

    params: dict  # the networks' variables, by the names of `Algorithm.nets`' inputs
    env_state: VecEnvState  # its obs_stats normalise what the policy sees
    hp: Any  # the algorithm's float hyperparameters
    frame: jax.Array  # int32, env steps summed over the session's envs
    opt_step: jax.Array  # int32, gradient steps


@struct.dataclass
class StepMetrics:
    """What one update reports for the session DataFrame: the loss, the lr, and the algorithm's own columns
    (`Algorithm.columns`, by name)."""

    loss: jax.Array
    lr: jax.Array
    columns: dict[str, jax.Array]


@dataclass(frozen=True)
class Algorithm:
    """One algorithm, as the rest of jaxlab sees it. Static settings (shapes, counts, network modules) and
    float hyperparameters (arrays, so that search trials vmap over them) are the algorithm's own types."""

    name: str  # agent.algorithm.name
    schema: dict  # agent sections: {"algorithm": ..., "net": ..., optional "memory", "critic_net"} of Fields
    configure: Callable[[dict, VecEnv], tuple[Any, Any]]  # (validated spec, env) -> (static, hparams)
    init: Callable[[Any, jax.Array, Any], TrainState]  # (static, key, hparams) -> one session's state
    update: Callable[[Any, TrainState], tuple[TrainState, StepMetrics]]  # one iteration: collect, learn
    act: Callable[
        ..., jax.Array
    ]  # (static, hp, params, obs [E, ...], key, explore: bool) -> actions [E, ...]
    nets: Callable[[dict], dict]  # train-state params -> {export name: variables}, SLM Lab's network names
    networks: Callable[
        [Any], dict
    ]  # static -> {export name: the Flax module behind it} (export rebuilds them)
    check: Callable[[dict, EnvDescription], None] = lambda spec, env: (
        None
    )  # cross-field rules; raise SpecError
    defaults: Callable[[dict], dict] = lambda raw: (
        raw
    )  # raw agent section -> with defaults that span sections
    columns: tuple[str, ...] = ()  # DataFrame columns after the common ones, in order; all are graphed


def register(algorithm: Algorithm) -> Algorithm:
    """Check an algorithm record against the contract, once, when the registry is built."""
    problems = []
    if not algorithm.name or not isinstance(algorithm.name, str):
        problems.append("a name")
    if not {"algorithm", "net"} <= set(algorithm.schema) <= set(SPEC_SECTIONS):
        problems.append(f"schema sections among {SPEC_SECTIONS}, with algorithm and net")
    elif "name" not in algorithm.schema["algorithm"] or "gamma" not in algorithm.schema["algorithm"]:
        problems.append("agent.algorithm.name and agent.algorithm.gamma in its schema")
    for function in ("configure", "init", "update", "act", "nets", "networks", "check", "defaults"):
        if not callable(getattr(algorithm, function)):
            problems.append(f"a callable {function}")
    if not all(isinstance(c, str) for c in algorithm.columns) or set(algorithm.columns) & set(COMMON_COLUMNS):
        problems.append(f"columns (strings) apart from the common ones {COMMON_COLUMNS}")
    if problems:
        raise TypeError(
            f"algorithm {algorithm.name!r} does not meet the contract: it needs {'; '.join(problems)}"
        )
    return algorithm
