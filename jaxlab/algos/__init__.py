"""Algorithms: one module each, with `configure`, `init`, `update`, `act`, `nets` and `EXTRA_COLUMNS`."""

from __future__ import annotations

from types import ModuleType

from jaxlab.algos import a2c, dqn, ppo, reinforce, sac

ALGORITHMS: dict[str, ModuleType] = {
    "PPO": ppo,
    "DQN": dqn,
    "DoubleDQN": dqn,
    "REINFORCE": reinforce,
    "A2C": a2c,
    "SAC": sac,
}


def get(name: str) -> ModuleType:
    """The algorithm module for a spec's `agent.algorithm.name` (validated by spec.py)."""
    return ALGORITHMS[name]
