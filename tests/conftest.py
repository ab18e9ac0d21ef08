import os

import pytest

# Tests share one persistent compilation cache so repeated programs compile once per machine.
os.environ.setdefault("JAXLAB_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))


def tiny_spec(**sections) -> dict:
    """A raw PPO CartPole spec small enough to compile and run in seconds."""
    raw = {
        "name": "tiny",
        "agent": {
            "algorithm": {"name": "PPO", "time_horizon": 16, "minibatch_size": 32, "training_epoch": 2},
            "net": {"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 1e-3}},
        },
        "env": {"name": "CartPole-v1", "num_envs": 4, "max_frame": 2048},
        "meta": {"max_session": 2, "log_frequency": 128},
    }
    for section, values in sections.items():
        raw[section] = {**raw[section], **values}
    return raw


@pytest.fixture
def tiny():
    return tiny_spec
