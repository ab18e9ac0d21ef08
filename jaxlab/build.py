"""From a validated spec to the pieces of a trial: the env, the algorithm and its settings, the plan of
updates and checkpoints, the engine (nothing compiled). The size checks that refuse a spec before anything
is allocated or written, and how many sessions one program runs at once on an accelerator, live here too:
both ask the engine for sizes and decide from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import jax

from jaxlab import algos, envs
from jaxlab.algos.base import Algorithm
from jaxlab.algos.networks import describe
from jaxlab.devices import MEMORY_SHARE, device_memory_bytes
from jaxlab.engine import Engine
from jaxlab.plan import Plan
from jaxlab.schema import INT_MAX, SpecError

DEV_MAX_FRAME = 20_000


@dataclass
class Built:
    """One trial's pieces: the algorithm, its settings and float hyperparameters, the plan and the engine."""

    algo: Algorithm
    static: Any
    hp: Any
    plan: Plan
    engine: Engine

    def description(self) -> dict:
        """The spaces of the env and the networks (their Flax modules, as JSON) for the trial spec: what
        export rebuilds the torch modules from."""
        networks = self.algo.networks(self.static)
        return {
            **self.static.env.spaces(),
            "networks": {name: describe(module) for name, module in networks.items()},
        }

    def same_program(self, other: Built) -> bool:
        """Whether two trials compile to one program: the same algorithm settings, plan and eval (they may
        differ in float hyperparameters, which live in each session's state)."""
        shapes = lambda hp: jax.tree.map(jax.numpy.shape, hp)  # noqa: E731
        return (
            self.algo is other.algo
            and self.static == other.static
            and self.plan == other.plan
            and self.engine.eval_env == other.engine.eval_env
            and shapes(self.hp) == shapes(other.hp)
        )


def build(spec: dict) -> Built:
    """Env, algorithm, plan and engine for a validated spec (nothing compiled yet)."""
    meta, env_spec = spec["meta"], spec["env"]
    algo = algos.get(spec["agent"]["algorithm"]["name"])
    gamma = spec["agent"]["algorithm"]["gamma"]
    env = envs.make(env_spec, gamma)
    static, hp = algo.configure(spec, env)
    plan = Plan.plan(
        static.frames_per_update,
        meta["log_frequency"],
        env_spec["max_frame"],
        meta["eval_frequency"],
        env.num_envs,
    )
    if plan.rows_per_checkpoint > 1:  # rows inside an update read the returns as they stood then
        env = envs.make(env_spec, gamma, history=envs.RECENT_EPISODES + static.frames_per_update)
        static, hp = algo.configure(spec, env)
    eval_env = (
        envs.make(env_spec, num_envs=meta["rigorous_eval"], normalize=False)
        if meta["rigorous_eval"]
        else None
    )
    return Built(algo, static, hp, plan, Engine(algo, static, plan, eval_env))


def dev_spec(spec: dict) -> tuple[dict, Built]:
    """`dev` mode: one session, at most DEV_MAX_FRAME frames (the whole checkpoints that fit, at least one),
    every checkpoint row logged."""
    spec = {**spec, "meta": {**spec["meta"], "max_session": 1}}
    spec["env"] = {**spec["env"], "max_frame": min(spec["env"]["max_frame"], DEV_MAX_FRAME)}
    built = build(spec)
    plan = built.plan
    if plan.total_frames <= DEV_MAX_FRAME:
        return spec, built
    frames = max(1, DEV_MAX_FRAME // plan.frames_per_checkpoint) * plan.frames_per_checkpoint
    spec = {**spec, "env": {**spec["env"], "max_frame": frames}}
    return spec, build(spec)


def host_memory_bytes() -> int:
    """RAM the host can still give without swapping: /proc/meminfo's MemAvailable (Linux), else free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_sizes(built: Built, num_sessions: int, device_memory: int | None = None) -> None:
    """Refuse absurd sizes from shapes alone, before anything is allocated, compiled or written: sessions
    whose state (with one update's observations) would not fit in memory, and frame counts past the int32
    counters. On an accelerator (`device_memory`, default the device's) the sessions run in batches that fit
    (`fit_to_device_memory`), so one session must fit in its memory; on CPU all of them share host RAM."""
    limit = device_memory if device_memory is not None else device_memory_bytes()
    if limit is None:
        sessions, limit, where = num_sessions, host_memory_bytes(), "of host memory available"
    else:
        sessions, where = 1, f"of {jax.devices()[0].device_kind} memory"
    needed = built.engine.state_bytes(sessions, built.hp)
    if needed > limit:
        raise SpecError(
            f"the training state of {sessions:,} session{'s' if sessions > 1 else ''} would need"
            f" {needed / 2**30:,.1f} GiB but there is {limit / 2**30:,.1f} GiB {where} — lower env.num_envs,"
            " agent.net.hid_layers, agent.memory.max_size, meta.rigorous_eval or meta.max_session"
        )
    if built.plan.total_frames > INT_MAX:
        raise SpecError(
            f"env.max_frame rounds up to {built.plan.total_frames:,} frames per session (whole checkpoints of"
            f" {built.plan.frames_per_checkpoint:,}), past the {INT_MAX:,} that jaxlab's int32 frame counter"
            " holds — lower env.max_frame, meta.log_frequency or env.num_envs"
        )


def fit_to_device_memory(
    built: Built, num_sessions: int, unit: int = 1, device_memory: int | None = None
) -> int:
    """Fit the sessions to the accelerator's memory, compiling the program for it there; returns how many
    sessions one program runs at once: all of them, unless XLA's analysis of the compiled program
    says they would not fit in the accelerator's memory (`device_memory`, default the device's); then the
    largest divisor of `num_sessions` that fits and is a multiple of `unit` (a search trial's sessions stay
    together); the sessions run in batches, one after another, through the same program. On an accelerator
    this compiles the program (for all sessions, then for the batch when they do not fit); on CPU, where
    host RAM was checked before the trial started, it compiles nothing."""
    limit = device_memory if device_memory is not None else device_memory_bytes()
    if limit is None:
        return num_sessions
    engine, hp = built.engine, built.hp
    engine.compile(engine.state_shapes(num_sessions, hp))
    per_session = engine.program_bytes() / num_sessions
    fitting = [
        d
        for d in range(unit, num_sessions + 1, unit)
        if num_sessions % d == 0 and d * per_session <= MEMORY_SHARE * limit
    ]
    if not fitting:
        raise MemoryError(
            f"{unit} session{'s' if unit > 1 else ''} need{'' if unit > 1 else 's'}"
            f" {unit * per_session / 2**30:.1f}"
            f" GiB of device memory but {jax.devices()[0].device_kind} has {limit / 2**30:.1f} GiB: use fewer"
            " env.num_envs, a smaller memory.max_size or smaller layers"
        )
    if fitting[-1] < num_sessions:
        engine.compile(engine.state_shapes(fitting[-1], hp))
    return fitting[-1]
