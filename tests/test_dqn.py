"""The DQN family: Q targets, the replay memory (ring, PER sampling and weights), spec checks, tiny
training runs of each variant, and the torch export of Q networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import yaml

from jaxlab import experiment, run, spec
from jaxlab.algos import dqn, networks, replay
from jaxlab.engine import rows_to_numpy
from jaxlab.export import build_network, flax_to_state_dict, load_policy


def tiny_dqn(**algorithm) -> dict:
    """A raw DQN CartPole spec small enough to compile and run in seconds."""
    return {
        "name": "tiny_dqn",
        "agent": {
            "algorithm": {
                "name": "DQN",
                "explore_var_spec": {
                    "name": "linear_decay",
                    "start_val": 1.0,
                    "end_val": 0.1,
                    "start_step": 0,
                    "end_step": 1000,
                },
                "training_frequency": 4,
                "training_start_step": 64,
                "training_iter": 2,
                "training_batch_iter": 2,
                **algorithm,
            },
            "memory": {"name": "Replay", "batch_size": 16, "max_size": 512},
            "net": {"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 1e-3}, "update_frequency": 64},
        },
        "env": {"name": "CartPole-v1", "num_envs": 4, "max_frame": 1024},
        "meta": {"max_session": 2, "log_frequency": 128, "eval_frequency": 512, "rigorous_eval": 2},
    }


def transitions(values: list[float]) -> replay.Transition:
    """K transitions whose obs and reward both hold `values` (so a slot's content is easy to read back)."""
    v = jnp.asarray(values, jnp.float32)
    return replay.Transition(
        obs=v[:, None],
        action=jnp.zeros(len(values), jnp.int32),
        reward=v,
        next_obs=v[:, None] + 0.5,
        terminated=jnp.zeros(len(values), bool),
        truncated=jnp.zeros(len(values), bool),
    )


def empty_memory(size: int, prioritized: bool) -> replay.Memory:
    return replay.init(size, jax.tree.map(lambda x: x[0], transitions([0.0])), prioritized)


# ---- Q targets ---------------------------------------------------------------------------------


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


def test_dueling_q_values_are_value_plus_centred_advantage():
    module = networks.DuelingQNet(networks.Body((8,), "tanh", "xavier_uniform_"), 3)
    obs = jnp.ones((2, 4))
    variables = module.init(jax.random.PRNGKey(0), obs)
    q, inner = module.apply(variables, obs, capture_intermediates=True, mutable=["intermediates"])
    value = inner["intermediates"]["value_head"]["__call__"][0]
    np.testing.assert_allclose(q.mean(-1), value[:, 0], rtol=1e-5)


# ---- replay memory -----------------------------------------------------------------------------


def test_ring_buffer_wraps_around_and_overwrites_the_oldest():
    memory = empty_memory(5, prioritized=False)
    memory = replay.add(memory, transitions([1.0, 2.0, 3.0]))
    assert int(memory.head) == 3 and int(memory.size) == 3
    memory = replay.add(memory, transitions([4.0, 5.0, 6.0, 7.0]))
    assert int(memory.head) == 2 and int(memory.size) == 5
    np.testing.assert_array_equal(memory.data.reward, [6.0, 7.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(memory.data.next_obs[:, 0], [6.5, 7.5, 3.5, 4.5, 5.5])
    batch, index, weight = replay.sample(memory, jax.random.PRNGKey(0), 256, jnp.asarray(0.4))
    np.testing.assert_array_equal(batch.reward, memory.data.reward[index])
    assert set(np.asarray(index)) == set(range(5)) and (np.asarray(weight) == 1).all()


def test_uniform_sampling_stays_inside_the_filled_slots():
    memory = replay.add(empty_memory(8, prioritized=False), transitions([1.0, 2.0, 3.0]))
    _, index, _ = replay.sample(memory, jax.random.PRNGKey(1), 1000, jnp.asarray(1.0))
    assert set(np.asarray(index)) == {0, 1, 2}


def test_minatar_frames_are_stored_as_uint8_and_sampled_back_exactly():
    env = experiment.envs.make(
        {"name": "Breakout-MinAtar", "num_envs": 2, "normalize_obs": False, "normalize_reward": False}
    )
    assert replay.obs_storage_dtype(env) == jnp.uint8
    obs, _ = env.reset(jax.random.PRNGKey(0))
    example = replay.Transition(
        obs[0].astype(jnp.uint8),
        jnp.int32(0),
        jnp.float32(0),
        obs[0].astype(jnp.uint8),
        jnp.bool_(False),
        jnp.bool_(False),
    )
    memory = replay.init(10, example, prioritized=False)
    assert memory.data.obs.dtype == jnp.uint8
    # 2 x 400 uint8 frames + int32 action + float32 reward + 2 bools per slot, and head/size.
    assert replay.nbytes(memory) == 10 * (2 * 400 + 4 + 4 + 2) + 8
    two = replay.Transition(
        obs, jnp.zeros(2, jnp.int32), jnp.zeros(2), obs, jnp.zeros(2, bool), jnp.zeros(2, bool)
    )
    memory = replay.add(memory, two)
    batch, index, _ = replay.sample(memory, jax.random.PRNGKey(0), 4, jnp.asarray(1.0))
    assert batch.obs.dtype == jnp.float32
    np.testing.assert_array_equal(batch.obs, obs[index])


@pytest.mark.parametrize("slots, filled", [(8, 5), (300, 290)])  # one level of the sum tree; two levels
def test_prioritized_sampling_frequencies_follow_p_alpha_over_the_sum(slots, filled):
    alpha, eps = 0.6, 0.01
    memory = replay.add(empty_memory(slots, prioritized=True), transitions([0.0] * filled))
    abs_td = jnp.asarray(np.random.default_rng(0).exponential(2.0, filled), jnp.float32)
    memory = replay.update_priorities(
        memory, jnp.arange(filled), abs_td, jnp.asarray(alpha), jnp.asarray(eps)
    )
    expected = (np.asarray(abs_td, np.float64) + eps) ** alpha
    expected /= expected.sum()
    draws = 100_000
    _, index, _ = replay.sample(memory, jax.random.PRNGKey(0), draws, jnp.asarray(0.0))
    frequency = np.bincount(np.asarray(index), minlength=slots) / draws
    assert frequency[filled:].sum() == 0  # empty slots are never drawn
    # within 5 standard errors of a binomial frequency
    np.testing.assert_array_less(
        np.abs(frequency[:filled] - expected), 5 * np.sqrt(expected * (1 - expected) / draws)
    )


def test_prioritized_importance_weights_on_a_hand_computed_case():
    # Priorities (|td| + eps)^alpha with alpha 1, eps 0: p = [1, 2, 4, 1], N = 4, P = p / 8.
    memory = replay.add(empty_memory(6, prioritized=True), transitions([0.0] * 4))
    memory = replay.update_priorities(
        memory, jnp.arange(4), jnp.array([1.0, 2.0, 4.0, 1.0]), jnp.asarray(1.0), jnp.asarray(0.0)
    )
    beta = 0.5
    _, index, weight = replay.sample(memory, jax.random.PRNGKey(3), 64, jnp.asarray(beta))
    # w_i = (N P(i))^-beta / max_j w_j: (4 * [1, 2, 4, 1] / 8)^-0.5 = [1.414, 1, 0.707, 1.414] / 1.414
    by_slot = np.array([1.0, 2.0**-0.5, 0.5, 1.0])
    np.testing.assert_allclose(weight, by_slot[np.asarray(index)], rtol=1e-6)
    assert {0, 1, 2, 3} == set(np.asarray(index))


def test_new_transitions_get_the_largest_priority_so_far():
    memory = replay.add(empty_memory(4, prioritized=True), transitions([0.0, 0.0]))
    np.testing.assert_array_equal(memory.priority[:4], [1.0, 1.0, 0.0, 0.0])  # 1 before any update
    memory = replay.update_priorities(
        memory, jnp.array([0, 1]), jnp.array([3.0, 0.5]), jnp.asarray(1.0), jnp.asarray(0.0)
    )
    memory = replay.add(memory, transitions([0.0]))
    np.testing.assert_array_equal(memory.priority[:4], [3.0, 0.5, 3.0, 0.0])


# ---- spec checks ---------------------------------------------------------------------------------


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


def test_ppo_specs_have_no_memory_section():
    raw = {
        "agent": {"algorithm": {"name": "PPO"}, "memory": {"name": "Replay"}},
        "env": {"name": "CartPole-v1"},
    }
    with pytest.raises(spec.SpecError, match="unknown key agent.memory"):
        spec.validate(raw)


# ---- training ------------------------------------------------------------------------------------


def train_rows(raw: dict) -> dict:
    validated = spec.validate(raw)
    built = experiment.build_engine(validated)
    state = built.engine.init(0, validated["meta"]["max_session"], built.hp)
    state, rows, _ = built.engine.run_chunk(state, 0, built.plan.num_checkpoints)
    return rows_to_numpy(rows, built.plan.num_checkpoints), state


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
def test_each_variant_trains_to_finite_rows(variant):
    raw = tiny_dqn()
    for section, values in VARIANTS[variant].items():
        target = raw["env"] if section == "env" else raw["agent"][section]
        target.update(values)
    rows, state = train_rows(raw)
    frames = raw["env"]["max_frame"]
    checkpoints = frames // 128
    assert rows["frame"].shape == (checkpoints, 2)
    np.testing.assert_array_equal(rows["frame"][:, 0], np.arange(1, checkpoints + 1) * 128)
    # Training starts once 64 frames are stored: every checkpoint of 128 frames has trained.
    assert np.isfinite(rows["loss"]).all() and np.isfinite(rows["explore_var"]).all()
    assert not np.allclose(rows["loss"][:, 0], rows["loss"][:, 1])  # sessions differ
    # 2 x 2 grad steps per update of 4 frames, from the update that reached 64 frames.
    np.testing.assert_array_equal(rows["opt_step"][-1], [(frames - 60) // 4 * 4] * 2)
    assert int(state.train.memory.size[0]) == min(frames, 512)
    if state.train.memory.priority is not None:
        assert (np.asarray(state.train.memory.priority[0]) != 1.0).any()  # priorities were updated
    # epsilon / temperature decays linearly to 0.1 at frame 1000
    np.testing.assert_allclose(rows["explore_var"][0, 0], 1.0 - 0.9 * 128 / 1000, rtol=1e-5)


def test_target_net_replaced_only_at_update_frequency():
    raw = tiny_dqn(training_start_step=0)
    raw["agent"]["net"]["update_frequency"] = 8  # every 2 updates of 4 frames
    validated = spec.validate(raw)
    static, hp = dqn.configure(validated, experiment.envs.make(validated["env"]), 64)
    state = dqn.init(static, jax.random.PRNGKey(0), hp)
    state, _ = dqn.update(static, state)  # frame 4: trained, target not yet updated
    online, target = state.params["net"], state.params["target_net"]
    assert not all(jax.tree.leaves(jax.tree.map(jnp.array_equal, online, target)))
    state, _ = dqn.update(static, state)  # frame 8: target <- online
    assert all(
        jax.tree.leaves(jax.tree.map(jnp.array_equal, state.params["net"], state.params["target_net"]))
    )


def test_dqn_learns_cartpole_above_random():
    raw = tiny_dqn(training_iter=1, training_batch_iter=1, training_start_step=500)
    raw["agent"]["algorithm"]["explore_var_spec"].update(end_val=0.05, end_step=5000)
    raw["agent"]["memory"].update(batch_size=64, max_size=20000)
    raw["agent"]["net"].update(hid_layers=[64, 64], update_frequency=500, hid_layers_activation="relu")
    raw["env"]["max_frame"] = 20000
    raw["meta"].update(log_frequency=2000, rigorous_eval=0)
    rows, _ = train_rows(raw)
    # A random policy averages ~22 on CartPole.
    assert rows["total_reward"][-1].min() > 60, rows["total_reward"][-1]


# ---- export ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "net_type, obs_shape", [("MLPNet", (4,)), ("DuelingMLPNet", (4,)), ("DuelingConvNet", (10, 10, 4))]
)
def test_torch_q_network_matches_flax(net_type, obs_shape):
    net_spec = {
        "type": net_type,
        "hid_layers": [16, 8],
        "hid_layers_activation": "elu",
        "conv_hid_layers": [[4, 3, 1]],
        "init_fn": "xavier_uniform_",
    }
    body = networks.make_body(net_spec, obs_shape)
    module = (networks.DuelingQNet if net_type.startswith("Dueling") else networks.QNet)(body, 3)
    obs = np.random.default_rng(0).normal(size=(5, *obs_shape)).astype(np.float32)
    variables = jax.eval_shape(module.init, jax.random.PRNGKey(0), obs[0])
    rng = np.random.default_rng(1)
    variables = jax.tree.map(lambda x: (0.5 * rng.normal(size=x.shape)).astype(np.float32), variables)
    torch_net = build_network(net_spec, obs_shape, {"type": "discrete", "n": 3}, "net", algorithm="DQN")
    torch_net.load_state_dict(
        {k: torch.from_numpy(v) for k, v in flax_to_state_dict(variables).items()}, strict=True
    )
    with torch.no_grad():
        got = torch_net(torch.from_numpy(obs)).numpy()
    # Random 0.5-scale weights give Q values in the tens: compare to float32 precision, relatively.
    np.testing.assert_allclose(got, module.apply(variables, obs), atol=1e-5, rtol=1e-5)


def test_load_policy_on_a_dqn_checkpoint_gives_the_greedy_action(tmp_path):
    raw = tiny_dqn()
    raw["agent"]["net"]["type"] = "DuelingMLPNet"
    path = tmp_path / "tiny_dqn.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert run.main([str(path), "dev", "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    net_file = folder / "model" / "tiny_dqn_t0_s0_net_model.pt"
    assert (folder / "model" / "tiny_dqn_t0_s0_target_net_model.pt").exists()
    policy = load_policy(net_file)

    # The JAX Q values from the same weights.
    state = torch.load(net_file, weights_only=True)
    body = networks.make_body(
        {
            "type": "DuelingMLPNet",
            "hid_layers": [16],
            "hid_layers_activation": "tanh",
            "init_fn": "orthogonal_",
        },
        (4,),
    )
    module = networks.DuelingQNet(body, 2)
    params = {
        "body": {
            "body_0": {"kernel": state["body.0.weight"].numpy().T, "bias": state["body.0.bias"].numpy()}
        },
        "value_head": {
            "kernel": state["value_head.weight"].numpy().T,
            "bias": state["value_head.bias"].numpy(),
        },
        "advantage_head": {
            "kernel": state["advantage_head.weight"].numpy().T,
            "bias": state["advantage_head.bias"].numpy(),
        },
    }
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    expected = np.asarray(module.apply({"params": params}, obs))
    with torch.no_grad():
        q_values = policy.output(torch.from_numpy(obs)).numpy()
        actions = policy(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(q_values, expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(actions, expected.argmax(-1))
