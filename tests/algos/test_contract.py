"""The algorithm contract (`jaxlab/algos/base.py`): every registered algorithm meets it, and the registry
refuses a record that does not."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from jaxlab import algos
from jaxlab.algos.base import COMMON_COLUMNS, StepMetrics, TrainState, register
from tests.helpers import built_from
from tests.specs import every_algorithm


@pytest.mark.parametrize("name, raw", every_algorithm().items())
def test_every_algorithm_meets_the_contract(name, raw):
    """init gives a TrainState; update reports the loss, the lr and exactly its declared columns; act gives
    actions of the env's shape, greedy and exploring; nets and networks name the same networks."""
    _, built = built_from(raw)
    algo, static = built.algo, built.static
    assert algo.name == name and algos.get(name) is algo
    state = algo.init(static, jax.random.PRNGKey(0), built.hp)
    assert isinstance(state, TrainState)
    state, metrics = jax.jit(lambda s: algo.update(static, s))(state)
    assert isinstance(metrics, StepMetrics) and set(metrics.columns) == set(algo.columns)
    obs = jnp.zeros((3, *static.env.obs_shape))
    for explore in (False, True):
        actions = algo.act(static, state.hp, state.params, obs, jax.random.PRNGKey(1), explore)
        assert actions.shape == (3,)  # CartPole: one discrete action per observation
    networks = algo.networks(static)
    assert set(algo.nets(state.params)) == set(networks)
    assert "net" in networks or (name == "Random" and not networks)  # the policy is `net`; Random has none
    assert not set(algo.columns) & set(COMMON_COLUMNS)


def test_the_registry_refuses_a_record_that_breaks_the_contract():
    ppo = algos.get("PPO")
    with pytest.raises(TypeError, match="schema sections"):
        register(dataclasses.replace(ppo, schema={"net": {}}))
    with pytest.raises(TypeError, match="a callable update"):
        register(dataclasses.replace(ppo, update=None))
    with pytest.raises(TypeError, match="columns"):
        register(dataclasses.replace(ppo, columns=("loss",)))
