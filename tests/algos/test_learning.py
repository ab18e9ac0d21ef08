"""A learning floor for every algorithm: a short CartPole run of 2 sessions reaches well above the random
policy's ~22 in every session. Each floor's comment gives what the sessions reached when it was set."""

import pytest

from tests.helpers import run_rows
from tests.specs import tiny_dqn, tiny_pg_spec, tiny_sac, tiny_spec


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


# (spec, floor on every session's last total_reward): the floors sit at about half of what the two sessions
# reached when they were set (shown), far above the random policy's ~22, so that a real regression fails.
FLOORS = {
    "PPO": (_ppo(), 120),  # 235.4, 307.4
    "A2C": (_pg({"name": "A2C", "training_frequency": 16}, 40_000), 50),  # 90.2, 92.9
    "REINFORCE": (_pg({"name": "REINFORCE", "training_frequency": 64}, 40_000), 100),  # 215.0, 239.9
    "DQN": (_dqn("DQN"), 80),  # 162.7, 169.3
    "DoubleDQN": (_dqn("DoubleDQN"), 80),  # 158.0, 171.9
    "SAC": (_sac(), 60),  # 115.3, 114.7
}


@pytest.mark.parametrize("name", FLOORS)
def test_every_algorithm_learns_cartpole_above_a_floor(name):
    raw, floor = FLOORS[name]
    rows = run_rows(raw)
    assert rows["total_reward"][-1].min() > floor, rows["total_reward"][-1]
