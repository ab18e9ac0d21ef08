"""The DQN family: Q targets and the loss on hand-worked numbers (SmoothL1 and MSE, importance weights,
the double-Q and VanillaDQN targets), dueling Q values, the target net's start and cadence, exploration,
spec checks, and tiny runs of each variant."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import spec
from jaxlab.algos import dqn, networks, replay
from tests.helpers import built_from, run_program
from tests.specs import tiny_dqn


def test_q_target_values_the_online_argmax_with_the_target_net():
    """SLM Lab v5's DQN and DoubleDQN: a' = argmax Q_online(s'), valued by the target net; VanillaDQN passes
    the online values as both, max_a Q_online(s', a)."""
    next_q_target = jnp.array([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0]])
    next_q_online = jnp.array([[9.0, 0.0, 1.0], [0.0, 1.0, 7.0]])  # argmax 0 and 2
    reward, gamma = jnp.array([1.0, -1.0]), jnp.asarray(0.5)
    terminated = jnp.array([False, False])
    double = dqn.q_target(reward, terminated, gamma, next_q_target, next_q_online)
    vanilla = dqn.q_target(reward, terminated, gamma, next_q_online, next_q_online)
    np.testing.assert_allclose(double, [1.0 + 0.5 * 1.0, -1.0 + 0.5 * 3.0])
    np.testing.assert_allclose(vanilla, [1.0 + 0.5 * 9.0, -1.0 + 0.5 * 7.0])
    # Terminated transitions do not bootstrap; truncated ones are not marked terminated and do.
    ended = dqn.q_target(reward, jnp.array([True, False]), gamma, next_q_target, next_q_online)
    np.testing.assert_allclose(ended, [1.0, -1.0 + 0.5 * 3.0])


def constant_q(values) -> dict:
    """Params of a QNet without hidden layers whose Q(s, .) is `values` for every s (zero kernel)."""
    values = jnp.asarray(values, jnp.float32)
    return {"params": {"tails.0": {"kernel": jnp.zeros((4, len(values))), "bias": values}}}


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
    """Online Q(s, .) = [1, 3] everywhere (argmax 1); target Q(s', .) = [2, 0]; gamma 0.5. Sample 0: a = 0,
    r = 0.5, not terminal: y = 0.5 + 0.5 * Q_target(s', 1) = 0.5, td = -0.5. Sample 1: a = 1, r = 1, terminal:
    y = 1, td = -2. SmoothL1: 0.5 td^2 inside |td| <= 1, |td| - 0.5 outside; MSE: td^2. The importance weights
    scale each sample."""
    static = q_static(loss=loss)
    batch = q_batch([0, 1], [0.5, 1.0], [False, True])
    weight = jnp.asarray([1.0, 0.5])
    value, abs_td = dqn.loss(
        static, constant_q([1.0, 3.0]), constant_q([2.0, 0.0]), batch, weight, jnp.asarray(0.5)
    )
    np.testing.assert_allclose(abs_td, [0.5, 2.0], rtol=1e-6)
    np.testing.assert_allclose(value, (per_sample[0] * 1.0 + per_sample[1] * 0.5) / 2, rtol=1e-6)


def test_vanilla_dqn_bootstraps_from_the_online_net():
    """VanillaDQN has no target net: y = r + gamma max_a Q_online(s', a) = 0.5 + 0.5 * 3 = 2, td = 1."""
    batch = q_batch([0], [0.5], [False])
    args = (constant_q([1.0, 3.0]), constant_q([2.0, 0.0]), batch, jnp.ones(1), jnp.asarray(0.5))
    _, vanilla_td = dqn.loss(q_static("VanillaDQN", "MSELoss"), *args)
    _, double_td = dqn.loss(q_static("DoubleDQN", "MSELoss"), *args)
    np.testing.assert_allclose(vanilla_td, [1.0], rtol=1e-6)
    np.testing.assert_allclose(double_td, [0.5], rtol=1e-6)


def test_dueling_q_values_are_value_plus_centred_advantage():
    body = networks.Body((("linear", "model_body.0", 8), ("act", None, "Tanh")), "xavier_uniform_", "Tanh")
    module = networks.DuelingQNet(body, 3)
    obs = jnp.ones((2, 4))
    variables = module.init(jax.random.PRNGKey(0), obs)
    q, inner = module.apply(variables, obs, capture_intermediates=True, mutable=["intermediates"])
    value = inner["intermediates"]["v"]["__call__"][0]
    np.testing.assert_allclose(q.mean(-1), value[:, 0], rtol=1e-5)


def test_epsilon_greedy_tosses_one_coin_per_vector_step_and_boltzmann_samples_softmax():
    """epsilon 0.3: the whole vector step of 4 envs explores (each env a uniform action) 30% of the time, as
    SLM Lab's one np.random.rand() per step; Boltzmann samples softmax(Q / temperature), and with
    action_pdtype Argmax takes the argmax."""
    q_values = jnp.tile(jnp.asarray([[0.0, 1.0, 0.0]]), (4, 1))
    static = q_static()
    keys = jax.random.split(jax.random.PRNGKey(0), 5000)
    actions = np.asarray(
        jax.vmap(lambda k: dqn.behaviour_action(static, q_values, k, jnp.asarray(0.3)))(keys)
    )
    greedy_steps = (actions == 1).all(1).mean()  # exploring steps are all greedy with chance (1/3)^4
    np.testing.assert_allclose(greedy_steps, 0.7 + 0.3 / 81, atol=0.02)
    np.testing.assert_allclose(
        np.bincount(actions.ravel(), minlength=3) / actions.size, [0.1, 0.8, 0.1], atol=0.01
    )
    boltzmann = dataclasses.replace(static, action_policy="boltzmann", greedy_sampling=False)
    q_many = jnp.tile(jnp.asarray([[0.0, 1.0, 0.0]]), (20_000, 1))
    actions = np.asarray(dqn.behaviour_action(boltzmann, q_many, jax.random.PRNGKey(1), jnp.asarray(0.5)))
    expected = np.exp([0.0, 2.0, 0.0]) / np.exp([0.0, 2.0, 0.0]).sum()  # softmax(Q / 0.5)
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / len(actions), expected, atol=0.01)
    argmax = dataclasses.replace(boltzmann, greedy_sampling=True)
    assert (
        np.asarray(dqn.behaviour_action(argmax, q_many, jax.random.PRNGKey(1), jnp.asarray(0.5))) == 1
    ).all()


def test_act_explores_at_the_end_value_of_explore_var():
    """end_val 0.1: a step of 4 envs explores with probability 0.1, and then differs from the greedy actions
    unless all 4 uniform draws (of 2 actions) hit them: 0.1 (1 - 1/16) of the steps."""
    _, built = built_from(tiny_dqn())
    state = built.algo.init(built.static, jax.random.PRNGKey(0), built.hp)
    obs = jnp.zeros((4, 4))
    greedy = np.asarray(dqn.act(built.static, built.hp, state.params, obs, jax.random.PRNGKey(1), False))
    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    explored = np.asarray(
        jax.vmap(lambda k: dqn.act(built.static, built.hp, state.params, obs, k, True))(keys)
    )
    assert len(set(greedy.tolist())) == 1
    np.testing.assert_allclose((explored != greedy).any(1).mean(), 0.1 * 15 / 16, atol=0.015)


def test_target_net_starts_apart_and_is_replaced_at_update_frequency():
    """SLM Lab: the target net is initialised on its own; a copy comes at the vector step whose frame count
    is within num_envs (4) past a multiple of update_frequency (8)."""
    raw = tiny_dqn(training_start_step=0)
    raw["agent"]["net"]["update_frequency"] = 8
    _, built = built_from(raw)
    static = built.static
    state = dqn.init(static, jax.random.PRNGKey(0), built.hp)

    def same(s) -> bool:
        return all(jax.tree.leaves(jax.tree.map(jnp.array_equal, s.params["net"], s.params["target_net"])))

    assert not same(state)
    state, _ = dqn.update(static, state)  # frame 4: 4 % 8 = 4, not < 4
    assert not same(state)
    state, _ = dqn.update(static, state)  # frame 8: copied
    assert same(state)


def test_vanilla_dqn_keeps_no_target_net():
    _, built = built_from(tiny_dqn(name="VanillaDQN"))
    state = dqn.init(built.static, jax.random.PRNGKey(0), built.hp)
    assert set(state.params) == {"net"} and set(built.algo.networks(built.static)) == {"net"}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"memory": {"batch_size": 1024}},
            "agent.memory.batch_size = 1024 is larger than agent.memory.max_size",
        ),
        ({"algorithm": {"training_frequency": 6}}, "agent.algorithm.training_frequency = 6"),
        ({"env": {"name": "Pendulum-v1"}}, "needs discrete actions"),
        ({"net": {"type": "DuelingConvNet"}}, "use DuelingMLPNet"),
        ({"net": {"batch_norm": True}}, "batch-norm layers are not in jaxlab yet"),
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
    "vanilla_dqn_cer": {"algorithm": {"name": "VanillaDQN"}, "memory": {"use_cer": True}},
    "ddqn_boltzmann_per_cer_dueling_polyak": {
        "algorithm": {"name": "DoubleDQN", "action_policy": "boltzmann", "action_pdtype": "Categorical"},
        "memory": {"name": "PrioritizedReplay", "alpha": 0.6, "beta": 0.4, "use_cer": True},
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
    # 2 x 2 grad steps per update of 4 frames, from the update that passed 64 frames (SLM Lab: seen > 64).
    np.testing.assert_array_equal(rows["opt_step"][-1], [(frames - 64) // 4 * 4] * 2)
    assert int(state.train.memory.size[0]) == min(frames, 512)
    if state.train.memory.priority is not None:  # priorities follow the TD errors, not the new ones'
        new = float(replay.new_priority(0.6, 1e-4))
        assert (np.asarray(state.train.memory.priority[0, :512]) != new).mean() > 0.5
    # epsilon / temperature decays linearly to 0.1 at frame 1000
    np.testing.assert_allclose(
        rows["explore_var"][:, 0], np.maximum(1.0 - 0.9 * rows["frame"][:, 0] / 1000, 0.1), rtol=1e-5
    )
    linear_to_zero = raw["agent"]["net"].get("lr_scheduler_spec", {}).get("name") == "LinearToZero"
    assert (rows["lr"][-1, 0] < rows["lr"][0, 0]) == linear_to_zero
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ
