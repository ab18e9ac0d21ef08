"""Enjoy mode, SLM Lab style: replay a trained policy.

`python -m jaxlab.run CONFIG enjoy@data/<run>/<name>_t0_spec.json [--episodes N] [--render]` picks
the session with the best eval `total_reward_ma`, loads its ckpt-best weights into the exported
torch policy and plays it: on the real gymnasium env where there is one (classic control), in the
JAX env otherwise (MinAtar). `--render` writes a GIF of the first episode into the run folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np

from jaxlab.spec import SpecError

GYMNASIUM_TWINS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0")
TRIAL_SPEC = re.compile(r"(?P<name>.+)_t(?P<trial>\d+)_spec\.json")


@dataclass
class EnjoyResult:
    session: int
    checkpoint: str
    returns: np.ndarray
    gif: str | None


def best_session(folder: str, prefix: str, num_sessions: int) -> int:
    """The session whose eval total_reward_ma is highest (the train one where eval metrics are missing)."""
    scores = []
    for s in range(num_sessions):
        for kind in ("eval", "train"):
            path = os.path.join(folder, "info", f"{prefix}_s{s}_session_metrics_scalar_{kind}.json")
            if os.path.exists(path):
                with open(path) as f:
                    value = json.load(f).get("total_reward_ma")
                scores.append(-np.inf if value is None else value)
                break
        else:
            scores.append(-np.inf)
    if not np.isfinite(scores).any():
        raise SpecError(f"{folder} has no session metrics yet — let the run finish, or run python -m jaxlab.retro on it")
    return int(np.argmax(scores))


def enjoy(config_spec: dict, trial_spec_path: str, episodes: int, render: bool) -> EnjoyResult:
    from jaxlab.export import ExportError, load_policy

    match = TRIAL_SPEC.fullmatch(os.path.basename(trial_spec_path))
    if not match or not os.path.isfile(trial_spec_path):
        raise SpecError(f"enjoy@{trial_spec_path}: give a trial spec of a run, data/<run>/<name>_t<T>_spec.json")
    if match["name"] != config_spec["name"]:
        raise SpecError(
            f"enjoy@{trial_spec_path} is a run of {match['name']!r}, but the spec given is {config_spec['name']!r}"
            " — pass that run's own spec"
        )
    folder = os.path.dirname(trial_spec_path) or "."
    with open(trial_spec_path) as f:
        trial_spec = json.load(f)
    prefix = f"{match['name']}_t{match['trial']}"
    session = best_session(folder, prefix, trial_spec["meta"]["max_session"])
    checkpoint = os.path.join(folder, "model", f"{prefix}_s{session}_ckpt-best_net_model.pt")
    try:
        policy = load_policy(checkpoint)
    except ExportError as error:
        raise SpecError(str(error)) from None

    env_name = trial_spec["env"]["name"]
    gif = None
    if env_name in GYMNASIUM_TWINS:
        from gymnasium.error import DependencyNotInstalled

        from jaxlab.export.play import play_gymnasium

        try:
            returns, frames = play_gymnasium(policy, env_name, episodes, record_episode=0 if render else None)
        except DependencyNotInstalled as error:
            raise SpecError(f"--render needs gymnasium's drawing extra: {str(error).splitlines()[0]}") from None
        if render:
            from jaxlab.io.gif import write_gif

            gif = os.path.join(folder, f"{prefix}_s{session}_enjoy.gif")
            write_gif(gif, frames)
    else:
        if render:
            raise SpecError(f"--render is not available for {env_name}: it has no gymnasium twin to draw it")
        returns = play_jax_env(policy, trial_spec["env"], episodes)
    return EnjoyResult(session, checkpoint, returns, gif)


def play_jax_env(policy, env_spec: dict, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of `episodes` episodes of a torch policy in the JAX env (for envs without a gymnasium
    twin): the engine's own eval rollout, with the torch policy called back from inside it."""
    import jax
    import torch

    from jaxlab import envs

    env = envs.make(env_spec, num_envs=episodes, normalize=False)
    if env.discrete:
        action_shape = jax.ShapeDtypeStruct((episodes,), np.int32)
    else:
        action_shape = jax.ShapeDtypeStruct((episodes, env.action_dim), np.float32)

    def torch_actions(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return policy(torch.from_numpy(np.array(obs))).numpy().astype(action_shape.dtype)  # a writable copy

    def act(obs, _key):
        return jax.pure_callback(torch_actions, action_shape, obs)

    return np.asarray(jax.jit(lambda key: envs.first_episode_returns(env, key, act))(jax.random.PRNGKey(seed)))
