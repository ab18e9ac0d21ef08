"""The DQN family: Q targets and the loss on hand-worked numbers (Huber and MSE, importance weights,
DoubleDQN's
routing), dueling Q values, the target net's cadence, exploration, spec checks, and tiny runs of each
variant."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import dqn, networks, replay
from tests.helpers import built_from, run_program
from tests.specs import tiny_dqn


def test_double_q_target_uses_the_online_argmax_and_plain_dqn_the_target_max():
    next_q_target = jnp.array([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]])
    next_q_online = jnp.array([[9.0, 0.0, 1.0], [0.0, 1.0, 7.0]])  # argmax 0 and 2
    reward, gamma = jnp.array([1.0, -1.0]), jnp.asarray(0.5)
    terminated = jnp.array([False, False])
    plain = dqn.q_target(reward, terminated, gamma, next_q_target, None)
    double = dqn.q_target(reward, terminated, gamma, next_q_target, next_q_online)
    np.testing.assert_allclose(plain, [1.0 + 0.5 * 5.0, -1.0 + 0.5 * 4.0])
    np.testing.assert_allclose(double, [1.0 + 0.5 * 1.0, -1.0 + 0.5 * 3.0])
    # Terminated transitions do not bootstrap; truncated ones are not marked terminated and do.
    ended = dqn.q_target(reward, jnp.array([True, False]), gamma, next_q_target, next_q_online)
    np.testing.assert_allclose(ended, [1.0, -1.0 + 0.5 * 3.0])


def constant_q(values) -> dict:
    """Params of a QNet without hidden layers whose Q(s, .) is `values` for every s (zero kernel)."""
    values = jnp.asarray(values, jnp.float32)
    return {"params": {"q_head": {"kernel": jnp.zeros((4, len(values))), "bias": values}}}


def q_static(name: str = "DQN", loss: str = "SmoothL1Loss") -> dqn.Static:
    """The Static of a DQN on CartPole (4-dimensional observations) whose Q net has no hidden layers."""
    raw = tiny_dqn(name=name)
    raw["agent"]["net"].update(hid_layers=[], loss_spec={"name": loss})
    return built_from(raw)[1].static


def q_batch(action, reward, terminated) -> replay.Transition:
    n = len(action)
    return replay.Transition(
        obs=jnp.zeros((n, 4)),
        action=jnp.asarray(action, jnp.int32),
        reward=jnp.asarray(reward, jnp.float32),
        next_obs=jnp.ones((n, 4)),
        terminated=jnp.asarray(terminated),
        truncated=jnp.zeros(n, bool),
    )


@pytest.mark.parametrize("loss, per_sample", [("SmoothL1Loss", [0.125, 1.5]), ("MSELoss", [0.25, 4.0])])
def test_dqn_loss_on_hand_worked_td_errors(loss, per_sample):
    """Online Q(s, .) = [1, 3]; target Q(s', .) = [2, 0]; gamma 0.5. Sample 0: a = 0, r = 0.5, not terminal:
    y = 0.5 + 0.5 * max(2, 0) = 1.5, td = 0.5. Sample 1: a = 1, r = 1, terminal: y = 1, td = -2. Huber:
    0.5 td^2 inside |td| <= 1, |td| - 0.5 outside; MSE: td^2. The importance weights scale each sample."""
    static = q_static(loss=loss)
    batch = q_batch([0, 1], [0.5, 1.0], [False, True])
    weight = jnp.asarray([1.0, 0.5])
    value, abs_td = dqn.loss(
        static, constant_q([1.0, 3.0]), constant_q([2.0, 0.0]), batch, weight, jnp.asarray(0.5)
    )
    np.testing.assert_allclose(abs_td, [0.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(value, (per_sample[0] * 1.0 + per_sample[1] * 0.5) / 2, rtol=1e-6)


def test_double_dqn_loss_values_the_online_argmax_with_the_target_net():
    """Online Q = [1, 3] everywhere, so at s' the online net picks action 1, which the target net ([2, 0])
    values at 0: y = r + gamma * 0 (plain DQN would take max 2)."""
    batch = q_batch([0], [0.5], [False])
    args = (constant_q([1.0, 3.0]), constant_q([2.0, 0.0]), batch, jnp.ones(1), jnp.asarray(0.5))
    _, double_td = dqn.loss(q_static("DoubleDQN", "MSELoss"), *args)
    _, plain_td = dqn.loss(q_static("DQN", "MSELoss"), *args)
    np.testing.assert_allclose(double_td, [abs(0.5 + 0.0 - 1.0)], rtol=1e-6)
    np.testing.assert_allclose(plain_td, [abs(0.5 + 0.5 * 2.0 - 1.0)], rtol=1e-6)


def test_dueling_q_values_are_value_plus_centred_advantage():
    module = networks.DuelingQNet(networks.Body((8,), "tanh", "xavier_uniform_"), 3)
    obs = jnp.ones((2, 4))
    variables = module.init(jax.random.PRNGKey(0), obs)
    q, inner = module.apply(variables, obs, capture_intermediates=True, mutable=["intermediates"])
    value = inner["intermediates"]["value_head"]["__call__"][0]
    np.testing.assert_allclose(q.mean(-1), value[:, 0], rtol=1e-5)


def test_epsilon_greedy_and_boltzmann_exploration_frequencies():
    q_values = jnp.tile(jnp.asarray([[0.0, 1.0, 0.0]]), (20_000, 1))
    static = q_static()
    actions = np.asarray(dqn.behaviour_action(static, q_values, jax.random.PRNGKey(0), jnp.asarray(0.3)))
    # epsilon 0.3: the greedy action 1 with 0.7 + 0.3 / 3, each other with 0.1
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / len(actions), [0.1, 0.8, 0.1], atol=0.01)
    boltzmann = dataclasses.replace(static, boltzmann=True)
    actions = np.asarray(dqn.behaviour_action(boltzmann, q_values, jax.random.PRNGKey(1), jnp.asarray(0.5)))
    expected = np.exp([0.0, 2.0, 0.0]) / np.exp([0.0, 2.0, 0.0]).sum()  # softmax(Q / 0.5)
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / len(actions), expected, atol=0.01)


def test_act_explores_at_the_end_value_of_explore_var():
    _, built = built_from(tiny_dqn())
    state = built.algo.init(built.static, jax.random.PRNGKey(0), built.hp)
    obs = jnp.zeros((4000, 4))
    greedy = np.asarray(dqn.act(built.static, built.hp, state.params, obs, jax.random.PRNGKey(1), False))
    explored = np.asarray(dqn.act(built.static, built.hp, state.params, obs, jax.random.PRNGKey(1), True))
    assert len(set(greedy.tolist())) == 1
    # end_val 0.1: a uniform action with probability 0.1, so the other action about 5% of the time
    assert 0.02 < (explored != greedy).mean() < 0.08


def test_target_net_replaced_only_at_update_frequency():
    raw = tiny_dqn(training_start_step=0)
    raw["agent"]["net"]["update_frequency"] = 8  # every 2 updates of 4 frames
    _, built = built_from(raw)
    static = built.static
    state = dqn.init(static, jax.random.PRNGKey(0), built.hp)
    state, _ = dqn.update(static, state)  # frame 4: trained, target not yet updated
    online, target = state.params["net"], state.params["target_net"]
    assert not all(jax.tree.leaves(jax.tree.map(jnp.array_equal, online, target)))
    state, _ = dqn.update(static, state)  # frame 8: target <- online
    assert all(
        jax.tree.leaves(jax.tree.map(jnp.array_equal, state.params["net"], state.params["target_net"]))
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"memory": {"batch_size": 1024}},
            "agent.memory.batch_size = 1024 is larger than agent.memory.max_size",
        ),
        ({"algorithm": {"action_pdtype": "Categorical"}}, "use action_pdtype: Argmax"),
        ({"algorithm": {"training_frequency": 6}}, "agent.algorithm.training_frequency = 6"),
        ({"env": {"name": "Pendulum-v1"}}, "needs discrete actions"),
        ({"net": {"type": "DuelingConvNet"}}, "use DuelingMLPNet"),
        ({"net": {"log_std_init": 0.0}}, "unknown key agent.net.log_std_init"),
        ({"memory": {"name": "PER"}}, "agent.memory.name = 'PER' is not one of Replay, PrioritizedReplay"),
    ],
)
def test_bad_dqn_specs_fail_in_one_line(change, message):
    raw = tiny_dqn()
    for section, values in change.items():
        target = raw["env"] if section == "env" else raw["agent"][section]
        target.update(values)
    with pytest.raises(spec.SpecError) as error:
        spec.validate(raw)
    assert message in str(error.value) and "\n" not in str(error.value)


VARIANTS = {
    "dqn_epsilon_greedy_replay": {},
    "ddqn_boltzmann_per_dueling_polyak": {
        "algorithm": {"name": "DoubleDQN", "action_policy": "boltzmann", "action_pdtype": "Categorical"},
        "memory": {"name": "PrioritizedReplay", "alpha": 0.6, "beta": 0.4},
        "net": {
            "type": "DuelingMLPNet",
            "update_type": "polyak",
            "update_frequency": 4,
            "polyak_coef": 0.1,
            "loss_spec": {"name": "MSELoss"},
            "lr_scheduler_spec": {"name": "LinearToZero"},
        },
    },
    "minatar_dueling_conv": {
        "env": {"name": "Breakout-MinAtar", "max_frame": 512},
        "net": {"type": "DuelingConvNet", "conv_hid_layers": [[4, 3, 1]]},
    },
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_collects_trains_and_schedules_as_specified(variant):
    raw = tiny_dqn()
    for section, values in VARIANTS[variant].items():
        target = raw["env"] if section == "env" else raw["agent"][section]
        target.update(values)
    rows, state = run_program(raw)
    frames = raw["env"]["max_frame"]
    checkpoints = frames // 128
    np.testing.assert_array_equal(rows["frame"][:, 0], np.arange(1, checkpoints + 1) * 128)
    # 2 x 2 grad steps per update of 4 frames, from the update that reached 64 frames.
    np.testing.assert_array_equal(rows["opt_step"][-1], [(frames - 60) // 4 * 4] * 2)
    assert int(state.train.memory.size[0]) == min(frames, 512)
    if state.train.memory.priority is not None:  # priorities follow the TD errors, not the initial 1
        assert (np.asarray(state.train.memory.priority[0, :512]) != 1.0).mean() > 0.5
    # epsilon / temperature decays linearly to 0.1 at frame 1000
    np.testing.assert_allclose(
        rows["explore_var"][:, 0], np.maximum(1.0 - 0.9 * rows["frame"][:, 0] / 1000, 0.1), rtol=1e-5
    )
    linear_to_zero = raw["agent"]["net"].get("lr_scheduler_spec", {}).get("name") == "LinearToZero"
    assert (rows["lr"][-1, 0] < rows["lr"][0, 0]) == linear_to_zero
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ
