"""SoftActorCritic: the critic, actor and temperature losses on hand-worked numbers (discrete actions, where
the expectations over actions are exact), the target critics' polyak step and policy_delay, tiny runs of
both action kinds, and its spec's critic_net."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import replay, sac, soft_q
from tests.algos.test_ppo import ENTROPY, LOG3
from tests.helpers import built_from, run_rows
from tests.specs import tiny_sac

ALPHA, GAMMA = 0.5, 0.9


def discrete_sac():
    raw = tiny_sac(env="CartPole-v1")
    raw["agent"]["net"]["hid_layers"] = []
    return built_from(raw)[1].static


def twin(q1, q2) -> dict:
    """Params of the twin critics without hidden layers: Q_i(s, .) = their biases, for every s."""
    return {
        "params": {"tails.0": {"kernel": jnp.zeros((2, 4, 2)), "bias": jnp.asarray([q1, q2], jnp.float32)}}
    }


PARAMS = {  # pi = softmax([0, log 3]) = [0.25, 0.75]
    "net": {"params": {"tails.0": {"kernel": jnp.zeros((4, 2)), "bias": jnp.asarray([0.0, LOG3])}}},
    "critic": twin([2.0, 0.0], [3.0, 1.0]),
    "target_critic": twin([1.0, 2.0], [1.5, 1.0]),
}
BATCH = replay.Transition(
    obs=jnp.zeros((1, 4)),
    action=jnp.asarray([0]),
    reward=jnp.asarray([1.0]),
    next_obs=jnp.ones((1, 4)),
    terminated=jnp.asarray([False]),
    truncated=jnp.asarray([False]),
)


def critic_loss(batch):
    return soft_q.critic_loss(
        discrete_sac(),
        PARAMS["critic"],
        PARAMS,
        jnp.asarray(ALPHA),
        batch,
        jnp.ones(1),
        jnp.asarray(GAMMA),
        None,
    )


def test_critic_loss_regresses_both_critics_onto_the_soft_bellman_target():
    """SLM Lab's discrete V(s') = sum_a pi(a) ((Q'_1 + Q'_2)(s', a) / 2 - alpha log pi(a)) = 0.25 * 1.25 +
    0.75 * 1.5 + alpha H; y = r + gamma V(s'). Q_1(s, 0) = 2 and Q_2(s, 0) = 3: loss (2 - y)^2 + (3 - y)^2
    (MSELoss each), and PER's |td| is |min_i Q_i(s, 0) - y|."""
    y = 1.0 + GAMMA * (1.4375 + ALPHA * ENTROPY)
    loss, (abs_td, q_before) = critic_loss(BATCH)
    np.testing.assert_allclose(loss, (2.0 - y) ** 2 + (3.0 - y) ** 2, rtol=1e-6)
    np.testing.assert_allclose(abs_td, [abs(2.0 - y)], rtol=1e-6)
    np.testing.assert_allclose(q_before[:, 0], [[2.0, 0.0], [3.0, 1.0]])
    loss, _ = critic_loss(BATCH.replace(terminated=jnp.asarray([True])))  # no bootstrap: y = r = 1
    np.testing.assert_allclose(loss, 1.0 + 4.0, rtol=1e-6)


def test_discrete_actor_loss_uses_the_critics_average_before_their_step():
    """(Q_1 + Q_2)(s, .) / 2 = [2.5, 0.5] before the critics' step: sum_a pi(a) (alpha log pi(a) - Q) =
    -alpha H - (0.25 * 2.5 + 0.75 * 0.5)."""
    q_before = jnp.asarray([[[2.0, 0.0]], [[3.0, 1.0]]])
    loss, log_prob = soft_q.actor_loss(
        discrete_sac(), PARAMS["net"], PARAMS["critic"], q_before, jnp.asarray(ALPHA), BATCH.obs, None
    )
    np.testing.assert_allclose(loss, -ALPHA * ENTROPY - 1.0, rtol=1e-6)
    np.testing.assert_allclose(log_prob, [-ENTROPY], rtol=1e-6)


def test_the_temperature_falls_while_the_entropy_is_above_its_target():
    """SLM Lab's -alpha (log pi + target): target 0.6 log 2 < H, so d loss / d log alpha = alpha (H - target)
    > 0."""
    target = 0.6 * np.log(2.0)
    log_alpha = jnp.log(jnp.asarray(ALPHA))
    loss, grad = jax.value_and_grad(soft_q.alpha_loss)(log_alpha, jnp.asarray([-ENTROPY]), target)
    np.testing.assert_allclose(loss, -ALPHA * (-ENTROPY + target), rtol=1e-6)
    np.testing.assert_allclose(grad, ALPHA * (ENTROPY - target), rtol=1e-6)
    assert discrete_sac().target_entropy == pytest.approx(target)


def test_one_update_moves_the_targets_by_polyak_averaging():
    raw = tiny_sac(training_start_step=0)
    raw["agent"]["critic_net"] = {**raw["agent"]["net"], "update_type": "polyak", "polyak_coef": 0.25}
    _, built = built_from(raw)
    static = built.static
    state = sac.init(static, jax.random.PRNGKey(0), built.hp)
    new_state, metrics = jax.jit(lambda s: sac.update(static, s))(state)
    old, new = state.params, new_state.params
    assert new_state.opt_step == 1 and np.isfinite(metrics.loss)
    expected = jax.tree.map(
        lambda critic, target: 0.25 * critic + 0.75 * target, new["critic"], old["target_critic"]
    )
    jax.tree.map(lambda e, t: np.testing.assert_allclose(e, t, rtol=1e-6), expected, new["target_critic"])
    assert not np.allclose(jax.tree.leaves(new["critic"])[0], jax.tree.leaves(old["critic"])[0])


@pytest.mark.parametrize(
    "raw",
    [tiny_sac(training_iter=2), tiny_sac("CartPole-v1", "PrioritizedReplay")],
    ids=["continuous", "discrete_per"],
)
def test_tiny_runs_train_from_training_start_step(raw):
    rows = run_rows(raw, [8])
    assert rows["frame"][-1].tolist() == [512, 512]
    # Training starts once the memory holds more than 64 frames (the 17th vector step): 128 - 16 updates.
    assert rows["opt_step"][-1].tolist() == [112 * raw["agent"]["algorithm"].get("training_iter", 1)] * 2
    assert (rows["alpha"][-1] < 1.0).all()  # the temperature learns (down from 1 here: the entropy is high)
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ


def test_critic_net_defaults_to_net_and_can_differ():
    default = spec.validate(tiny_sac())["agent"]
    assert default["critic_net"]["hid_layers"] == default["net"]["hid_layers"] == [16]
    raw = tiny_sac()
    raw["agent"]["critic_net"] = {"hid_layers": [8, 8], "optim_spec": {"name": "Adam", "lr": 3e-3}}
    given = spec.validate(raw)["agent"]["critic_net"]
    assert given["hid_layers"] == [8, 8] and given["optim_spec"]["lr"] == 3e-3
    raw["agent"]["net"]["shared"] = True
    with pytest.raises(spec.SpecError, match=r"unknown key agent\.net\.shared"):
        spec.validate(raw)


def test_policy_delay_holds_the_actor_and_targets_between_policy_steps():
    """policy_delay 2: the first gradient step (0) moves the actor, the second (1) does not."""
    raw = tiny_sac(training_start_step=0, policy_delay=2)
    raw["agent"]["net"].update(update_type="polyak", polyak_coef=0.5)
    _, built = built_from(raw)
    static = built.static
    step = jax.jit(lambda s: sac.update(static, s)[0])
    first = step(sac.init(static, jax.random.PRNGKey(0), built.hp))
    second = step(first)

    def moved(a, b, key) -> bool:
        return not np.allclose(jax.tree.leaves(a.params[key])[0], jax.tree.leaves(b.params[key])[0])

    assert moved(first, second, "critic")
    assert not moved(first, second, "net") and not moved(first, second, "target_critic")
