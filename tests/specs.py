"""Tiny raw specs of every algorithm: small enough to compile and run in seconds."""

from __future__ import annotations

import copy


def tiny_spec(**sections) -> dict:
    """A raw PPO CartPole spec; `sections` update its sections (env={...}, meta={...})."""
    raw = {
        "name": "tiny",
        "agent": {
            "algorithm": {"name": "PPO", "time_horizon": 16, "minibatch_size": 32, "training_epoch": 2},
            "net": {"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 1e-3}},
        },
        "env": {"name": "CartPole-v1", "num_envs": 4, "max_frame": 2048},
        "meta": {"max_session": 2, "log_frequency": 128, "rigorous_eval": 8},
    }
    for section, values in sections.items():
        raw[section] = {**raw[section], **values}
    return raw


def tiny_pg_spec(algorithm: dict, env: str = "CartPole-v1", **net) -> dict:
    """Reinforce or ActorCritic (or PPO) on a tiny net."""
    return {
        "name": "tiny",
        "agent": {
            "algorithm": algorithm,
            "net": {"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 1e-3}, **net},
        },
        "env": {"name": env, "num_envs": 4, "max_frame": 1024},
        "meta": {"max_session": 2, "log_frequency": 128, "rigorous_eval": 8},
    }


def tiny_dqn(**algorithm) -> dict:
    """A raw DQN CartPole spec."""
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


def tiny_sarsa(**algorithm) -> dict:
    """A raw SARSA CartPole spec."""
    return {
        "name": "tiny_sarsa",
        "agent": {
            "algorithm": {
                "name": "SARSA",
                "explore_var_spec": {
                    "name": "linear_decay",
                    "start_val": 1.0,
                    "end_val": 0.1,
                    "end_step": 512,
                },
                "training_frequency": 8,
                **algorithm,
            },
            "net": {"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 1e-3}},
        },
        "env": {"name": "CartPole-v1", "num_envs": 4, "max_frame": 1024},
        "meta": {"max_session": 2, "log_frequency": 128, "eval_frequency": 512, "rigorous_eval": 2},
    }


def tiny_sac(env: str = "Pendulum-v1", memory: str = "Replay", **algorithm) -> dict:
    """A raw SAC spec (continuous on Pendulum by default)."""
    return {
        "name": "tiny",
        "agent": {
            "algorithm": {
                "name": "SoftActorCritic",
                "training_start_step": 64,
                "training_iter": 1,
                **algorithm,
            },
            "memory": {"name": memory, "batch_size": 32, "max_size": 1000},
            "net": {
                "hid_layers": [16],
                "hid_layers_activation": "relu",
                "optim_spec": {"name": "Adam", "lr": 1e-3},
            },
        },
        "env": {"name": env, "num_envs": 4, "max_frame": 512},
        "meta": {"max_session": 2, "log_frequency": 64, "rigorous_eval": 8},
    }


# One tiny spec per registered algorithm (discrete CartPole), for the tests that go over all of them.
EVERY_ALGORITHM = {
    "PPO": tiny_spec(),
    "ActorCritic": tiny_pg_spec({"name": "ActorCritic", "lam": 0.95, "training_frequency": 8}),
    "Reinforce": tiny_pg_spec({"name": "Reinforce", "training_frequency": 16}),
    "VanillaDQN": tiny_dqn(name="VanillaDQN"),
    "DQN": tiny_dqn(),
    "DoubleDQN": tiny_dqn(name="DoubleDQN"),
    "SoftActorCritic": tiny_sac(env="CartPole-v1"),
    "SARSA": tiny_sarsa(),
    "Random": {
        "name": "tiny_random",
        "agent": {
            "name": "Random",
            "algorithm": {"name": "Random"},
            "memory": {"name": "OnPolicyReplay"},
            "net": {},
        },
        "env": {"name": "CartPole-v1", "num_envs": 4, "max_frame": 1024},
        "meta": {"max_session": 2, "log_frequency": 128, "eval_frequency": 512, "rigorous_eval": 2},
    },
}


def every_algorithm() -> dict[str, dict]:
    return copy.deepcopy(EVERY_ALGORITHM)
