"""SARSA: the loss on hand-worked numbers (a' from the batch, terminal steps not bootstrapped), which a'
each step's target takes (the next action in the batch, or one drawn at s' after the batch and at a
truncation), and a spec check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import sarsa
from tests.helpers import built_from
from tests.specs import tiny_sarsa


def linear_q(kernel) -> dict:
    """Params of a QNet without hidden layers: Q(s, .) = s @ kernel."""
    kernel = jnp.asarray(kernel, jnp.float32)
    return {"params": {"tails.0": {"kernel": kernel, "bias": jnp.zeros(kernel.shape[1])}}}


def bare_static(loss: str = "MSELoss") -> sarsa.Static:
    raw = tiny_sarsa()
    raw["agent"]["net"].update(hid_layers=[], loss_spec={"name": loss})
    return built_from(raw)[1].static


def test_loss_on_hand_worked_targets():
    """Q(s, .) = s @ K on 4-dim observations; targets r + gamma (1 - terminated) Q(s', a')."""
    static = bare_static()
    kernel = np.zeros((4, 2), np.float32)
    kernel[0] = [1.0, 2.0]  # Q(s, .) = s_0 * [1, 2]
    batch = sarsa.Experience(
        obs=jnp.array([[1.0, 0, 0, 0], [2.0, 0, 0, 0]]),
        action=jnp.array([1, 0]),  # Q(s, a) = 2, 2
        reward=jnp.array([1.0, 0.5]),
        terminated=jnp.array([False, True]),
        next_obs=jnp.array([[3.0, 0, 0, 0], [5.0, 0, 0, 0]]),
        next_action=jnp.array([0, 1]),  # Q(s', a') = 3 (bootstrapped), 10 (terminal: ignored)
    )
    value = sarsa.loss(static, linear_q(kernel), batch, jnp.asarray(0.5))
    # targets 1 + 0.5 * 3 = 2.5 and 0.5: squared errors 0.25 and 2.25
    np.testing.assert_allclose(value, (0.25 + 2.25) / 2, rtol=1e-6)


def test_next_actions_come_from_the_batch_or_are_drawn_at_the_next_state():
    """a'_t is a_{t+1} inside the batch; after its last step, and where an episode ended, it is the policy's
    action at s' (here greedy: action_pdtype Argmax with boltzmann, so it can be read from Q)."""
    raw = tiny_sarsa(action_policy="boltzmann", action_pdtype="Argmax", training_frequency=200)
    raw["agent"]["net"]["hid_layers"] = []
    _, built = built_from(raw)
    static = built.static
    state = sarsa.init(static, jax.random.PRNGKey(0), built.hp)
    kernel = np.zeros((4, 2), np.float32)
    kernel[2] = [-1.0, 1.0]  # greedy: push towards the pole's lean, so episodes end inside the batch
    state = state.replace(params={"net": linear_q(kernel)})
    _, experience = jax.jit(sarsa.collect, static_argnums=0)(static, state)
    action, next_action = np.asarray(experience.action), np.asarray(experience.next_action)
    greedy_next = np.asarray(jnp.argmax(experience.next_obs @ kernel, -1))
    ended = np.array(
        (experience.next_obs != jnp.concatenate([experience.obs[1:], experience.obs[-1:]])).any(-1)
    )
    ended[-1] = True  # after the batch: drawn as well
    np.testing.assert_array_equal(next_action[ended], greedy_next[ended])
    np.testing.assert_array_equal(next_action[:-1][~ended[:-1]], action[1:][~ended[:-1]])
    assert ended[:-1].any() and (~ended[:-1]).any()
    # where an episode ended, a' is not the batch's next action (taken at the reset observation)
    assert (next_action[:-1][ended[:-1]] != action[1:][ended[:-1]]).any()


def test_sarsa_needs_discrete_actions():
    raw = tiny_sarsa()
    raw["env"]["name"] = "Pendulum-v1"
    with pytest.raises(spec.SpecError, match="SARSA needs discrete actions"):
        spec.validate(raw)
