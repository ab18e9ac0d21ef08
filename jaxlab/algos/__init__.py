"""Algorithms: one file each, made to the contract of `base.py`, registered here by SLM Lab's name
(`agent.algorithm.name`). A new algorithm is its file, one line below and a config."""

from __future__ import annotations

from jaxlab.algos import a2c, dqn, ppo, random_agent, reinforce, sac, sarsa
from jaxlab.algos.base import Algorithm, register

ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: register(algorithm)
    for algorithm in (
        reinforce.ALGORITHM,
        a2c.ALGORITHM,
        ppo.ALGORITHM,
        dqn.VANILLA_DQN,
        dqn.DQN,
        dqn.DOUBLE_DQN,
        sac.ALGORITHM,
        sarsa.ALGORITHM,
        random_agent.ALGORITHM,
    )
}
# SLM Lab's algorithms jaxlab does not have yet, and the labels SLM Lab's specs give as agent.name.
NOT_YET = ("CrossQ", "SIL", "PPOSIL")
LABELS = {"A2C": "ActorCritic", "REINFORCE": "Reinforce", "SAC": "SoftActorCritic", "DDQN": "DoubleDQN"}


def get(name: str) -> Algorithm:
    """The algorithm of a spec's `agent.algorithm.name` (validated by the spec package)."""
    return ALGORITHMS[name]
