"""A learning floor for every algorithm: a short CartPole run of 2 sessions reaches well above the random
policy's ~22 in every session. Each floor's comment gives what the sessions reached when it was set."""

import pytest

from tests.helpers import run_rows
from tests.specs import tiny_dqn, tiny_pg_spec, tiny_sac, tiny_sarsa, tiny_spec


def _ppo() -> dict:
    raw = tiny_spec(env={"max_frame": 40_000}, meta={"log_frequency": 2048, "rigorous_eval": 0})
    raw["agent"]["algorithm"].update(time_horizon=128, minibatch_size=128, training_epoch=4)
    raw["agent"]["net"]["hid_layers"] = [64, 64]
    return raw


def _dqn(name: str) -> dict:
    raw = tiny_dqn(name=name, training_iter=1, training_batch_iter=1, training_start_step=500)
    raw["agent"]["algorithm"]["explore_var_spec"].update(end_val=0.05, end_step=5000)
    raw["agent"]["memory"].update(batch_size=64, max_size=20000)
    raw["agent"]["net"].update(hid_layers=[64, 64], update_frequency=500, hid_layers_activation="relu")
    raw["env"]["max_frame"] = 20000
    raw["meta"].update(log_frequency=2000, rigorous_eval=0)
    return raw


def _pg(algorithm: dict, frames: int) -> dict:
    raw = tiny_pg_spec(algorithm, hid_layers=[64], optim_spec={"name": "Adam", "lr": 3e-3})
    raw["env"]["max_frame"] = frames
    raw["meta"].update(log_frequency=2048, rigorous_eval=0)
    return raw


def _sac() -> dict:
    raw = tiny_sac(env="CartPole-v1", training_start_step=500)
    raw["agent"]["memory"].update(batch_size=64, max_size=20000)
    raw["agent"]["net"]["hid_layers"] = [64, 64]
    raw["env"]["max_frame"] = 15000
    raw["meta"].update(log_frequency=1500, rigorous_eval=0)
    return raw


def _sarsa() -> dict:
    """SLM Lab's sarsa_boltzmann_cartpole_arc at 40k frames."""
    raw = tiny_sarsa(training_frequency=32, action_policy="boltzmann", action_pdtype="default")
    raw["agent"]["algorithm"]["explore_var_spec"].update(end_val=0.05, end_step=15000)
    raw["agent"]["net"].update(hid_layers=[128], hid_layers_activation="tanh", clip_grad_val=0.35)
    raw["agent"]["net"]["optim_spec"] = {"name": "RMSprop", "lr": 0.0087}
    raw["env"]["max_frame"] = 40_000
    raw["meta"].update(log_frequency=2048, rigorous_eval=0)
    return raw


# (spec, floor on every session's last total_reward): the floors sit at about half of what the two sessions
# reached when they were set (shown), far above the random policy's ~22, so that a real regression fails.
FLOORS = {
    "PPO": (_ppo(), 140),  # 282.8, 301.0
    "ActorCritic": (
        _pg({"name": "ActorCritic", "lam": 0.95, "training_frequency": 16}, 40_000),
        95,
    ),  # 189.8, 194.5
    "Reinforce": (_pg({"name": "Reinforce", "training_frequency": 64}, 40_000), 95),  # 191.7, 198.0
    "VanillaDQN": (_dqn("VanillaDQN"), 80),  # 158.7, 162.7
    "DQN": (_dqn("DQN"), 85),  # 171.7, 172.8 (SLM Lab v5's DQN is DoubleDQN: the same numbers)
    "DoubleDQN": (_dqn("DoubleDQN"), 85),  # 171.7, 172.8
    "SoftActorCritic": (_sac(), 60),  # 124.3, 133.4
    "SARSA": (_sarsa(), 55),  # 112.6, 126.7
}


@pytest.mark.parametrize("name", FLOORS)
def test_every_algorithm_learns_cartpole_above_a_floor(name):
    raw, floor = FLOORS[name]
    rows = run_rows(raw)
    assert rows["total_reward"][-1].min() > floor, rows["total_reward"][-1]
