"""Every algorithm on the probe environments of `tests/probes.py`, whose answers are known: the values it
learns (V, or Q) and the actions it picks. Each algorithm trains on all six probes in one compiled program
(vmapped over the probe kinds), and each probe catches its own kind of bug: a wrong sign, a value that ignores
the observation, credit that does not reach the earlier step, or truncation treated as termination."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlab import algos, spec
from jaxlab.algos import on_policy, soft_q
from jaxlab.envs import VecEnv
from tests.probes import GAMMA, KINDS, Probe, params_of

NET = {"hid_layers": [32], "optim_spec": {"name": "Adam", "lr": 3e-3}}
ON_POLICY = {"gamma": GAMMA, "entropy_coef_spec": {"name": "no_decay", "start_val": 0.001, "end_val": 0.001}}
OFF_POLICY = {"gamma": GAMMA, "training_frequency": 8, "training_start_step": 64, "training_iter": 2}
MEMORY = {"name": "Replay", "batch_size": 64, "max_size": 2000}
PROBE_SPECS = {  # (agent section, updates of 8 envs)
    "PPO": (
        {
            "algorithm": {
                "name": "PPO",
                **ON_POLICY,
                "time_horizon": 8,
                "minibatch_size": 32,
                "training_epoch": 4,
            },
            "net": NET,
        },
        150,
    ),
    "ActorCritic": (
        {"algorithm": {"name": "ActorCritic", "lam": 0.95, **ON_POLICY, "training_frequency": 8}, "net": NET},
        400,
    ),
    "Reinforce": (
        {"algorithm": {"name": "Reinforce", **ON_POLICY, "training_frequency": 8}, "net": NET},
        400,
    ),
    "DQN": (
        {
            "algorithm": {
                "name": "DQN",
                **OFF_POLICY,
                "explore_var_spec": {
                    "name": "linear_decay",
                    "start_val": 1.0,
                    "end_val": 0.2,
                    "start_step": 0,
                    "end_step": 2000,
                },
            },
            "memory": MEMORY,
            "net": {**NET, "update_frequency": 64},
        },
        500,
    ),
    "SoftActorCritic": (
        {"algorithm": {"name": "SoftActorCritic", **OFF_POLICY}, "memory": MEMORY, "net": NET},
        500,
    ),
}
PROBE_SPECS["VanillaDQN"] = (
    {**PROBE_SPECS["DQN"][0], "algorithm": {**PROBE_SPECS["DQN"][0]["algorithm"], "name": "VanillaDQN"}},
    500,
)
PROBE_SPECS["SARSA"] = (
    {
        "algorithm": {
            "name": "SARSA",
            "gamma": GAMMA,
            "training_frequency": 8,
            "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.05, "end_step": 2000},
        },
        "net": NET,
    },
    600,
)
PROBE_SPECS["DoubleDQN"] = (
    {**PROBE_SPECS["DQN"][0], "algorithm": {**PROBE_SPECS["DQN"][0]["algorithm"], "name": "DoubleDQN"}},
    500,
)
START, NEGATIVE, LATER = [1.0, 0.0], [-1.0, 0.0], [1.0, 1.0]  # observations: sign, time


def train_on_probes(name: str):
    """(static, final train states with a leading [kind] axis) of `name` trained on every probe."""
    agent, updates = PROBE_SPECS[name]
    validated = spec.validate(
        {
            "name": "probe",
            "agent": agent,
            "env": {"name": "CartPole-v1", "num_envs": 8, "max_frame": 8 * updates},
        }
    )
    algo = algos.get(name)

    def train(kind, key):
        static, hp = algo.configure(validated, VecEnv(Probe(), params_of(kind), num_envs=8))
        state = algo.init(static, key, hp)
        return jax.lax.scan(lambda s, _: (algo.update(static, s)[0], None), state, None, updates)[0]

    kinds = jnp.asarray(list(KINDS.values()))
    states = jax.jit(jax.vmap(train))(kinds, jax.random.split(jax.random.PRNGKey(0), len(kinds)))
    static, _ = algo.configure(validated, VecEnv(Probe(), params_of(0), num_envs=8))
    return static, states


def of_kind(states, kind: str):
    return jax.tree.map(lambda x: x[KINDS[kind]], states)


def answers(name: str, static, state, obs: list) -> tuple[np.ndarray, np.ndarray]:
    """(values [N, A] or [N], probabilities of each action [N, A]) at the observations."""
    obs = jnp.asarray(obs, jnp.float32)
    params = state.params
    if name in ("VanillaDQN", "DQN", "DoubleDQN", "SARSA"):
        q = static.q_net.apply(params["net"], obs)
        return np.asarray(q), np.asarray(jax.nn.one_hot(q.argmax(-1), 2))
    if name == "SoftActorCritic":
        q = soft_q.twin_q(static, params["critic"], obs).min(0)
        return np.asarray(q), np.asarray(jax.nn.softmax(static.actor.apply(params["net"], obs)))
    probs = jax.nn.softmax(on_policy.policy(static, params, obs))
    values = (
        on_policy.value(static, params, obs)
        if static.critic_net is not None or on_policy.shared(static)
        else None
    )
    return (None if values is None else np.asarray(values)), np.asarray(probs)


def over_actions(values: np.ndarray) -> np.ndarray:
    """State values [N] from V [N] or, where every action is worth the same, Q [N, A]."""
    return values.mean(-1) if values.ndim > 1 else values


def soft_value(state, static, obs: list) -> np.ndarray:
    """SAC's soft state value sum_a pi(a) (min_i Q_i(s, a) - alpha log pi(a)) at the observations."""
    q, probs = answers("SoftActorCritic", static, state, obs)
    return (probs * (q - np.exp(float(state.log_alpha)) * np.log(probs))).sum(-1)


VALUE_LEARNERS = [name for name in PROBE_SPECS if name != "Reinforce"]  # REINFORCE learns no value function


@pytest.fixture(scope="module", params=list(PROBE_SPECS))
def probed(request):
    return request.param, *train_on_probes(request.param)


def test_the_rewarded_action_is_picked(probed):
    """Nearly always; for SAC, as often as its entropy target allows (the soft-optimal policy keeps an
    entropy of 0.6 log 2: the rewarded action with probability 0.85)."""
    name, static, states = probed
    least = 0.75 if name == "SoftActorCritic" else 0.9
    _, probs = answers(name, static, of_kind(states, "action"), [START])
    assert probs[0, 1] > least, probs
    _, probs = answers(name, static, of_kind(states, "observation_action"), [START, NEGATIVE])
    assert probs[0, 1] > least and probs[1, 0] > least, probs  # the action goes with the observation's sign
    if name == "SoftActorCritic":
        entropy = -(probs * np.log(probs)).sum(-1)
        np.testing.assert_allclose(entropy, static.target_entropy, atol=0.1)


@pytest.mark.parametrize("probed", VALUE_LEARNERS, indirect=True)
def test_values_of_the_probes(probed):
    name, static, states = probed
    tolerance = 0.15
    constant, _ = answers(name, static, of_kind(states, "constant"), [START])
    np.testing.assert_allclose(constant, 1.0, atol=tolerance)  # every action: Q = r = 1
    observed, _ = answers(name, static, of_kind(states, "observation"), [START, NEGATIVE])
    np.testing.assert_allclose(over_actions(observed), [1.0, -1.0], atol=tolerance)  # whatever the action
    action, _ = answers(name, static, of_kind(states, "action"), [START])
    if action.ndim > 1:  # Q of each action
        np.testing.assert_allclose(action[0], [0.0, 1.0], atol=tolerance)
    else:  # V of a policy that picks the rewarded action
        np.testing.assert_allclose(action, 1.0, atol=tolerance)


@pytest.mark.parametrize("probed", VALUE_LEARNERS, indirect=True)
def test_credit_reaches_the_earlier_step_and_truncation_bootstraps(probed):
    name, static, states = probed
    two_step, truncated = of_kind(states, "two_step"), of_kind(states, "truncation")
    if (
        name == "SoftActorCritic"
    ):  # the soft Bellman equation holds at what it learned: the entropy terms add to the values
        later = soft_value(two_step, static, [LATER])
        q_start, _ = answers(name, static, two_step, [START])
        np.testing.assert_allclose(q_start[0], np.full(2, GAMMA * later[0]), atol=0.15)
        q_truncated, _ = answers(name, static, truncated, [START])
        np.testing.assert_allclose(
            q_truncated[0], np.full(2, 1.0 + GAMMA * soft_value(truncated, static, [START])[0]), atol=0.2
        )
        assert (q_truncated > 1.8).all()  # not 1, the value of treating the time limit as the end
        return
    values, _ = answers(name, static, two_step, [START, LATER])
    np.testing.assert_allclose(over_actions(values), [GAMMA * 1.0, 1.0], atol=0.15)
    value, _ = answers(name, static, truncated, [START])
    np.testing.assert_allclose(value, 1.0 / (1.0 - GAMMA), atol=0.25)
