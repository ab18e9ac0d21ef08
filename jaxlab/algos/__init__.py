"""Algorithms: one file each, made to the contract of `base.py`, registered here by name
(`agent.algorithm.name`). A new algorithm is its file, one line below and a config."""

from __future__ import annotations

from jaxlab.algos import a2c, dqn, ppo, reinforce, sac
from jaxlab.algos.base import Algorithm, register

ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: register(algorithm)
    for algorithm in (
        ppo.ALGORITHM,
        dqn.DQN,
        dqn.DOUBLE_DQN,
        reinforce.ALGORITHM,
        a2c.ALGORITHM,
        sac.ALGORITHM,
    )
}


def get(name: str) -> Algorithm:
    """The algorithm of a spec's `agent.algorithm.name` (validated by the spec package)."""
    return ALGORITHMS[name]
