"""Enjoy mode, SLM Lab style: replay a trained policy.

`python -m jaxlab.run [SPEC] enjoy@data/<run>/<name>_t0_spec.json [--episodes N] [--render]` picks
the session with the best eval `total_reward_ma`, loads its ckpt-best weights into the exported
torch policy and plays it: on the real gymnasium env where there is one (classic control), in the
JAX env otherwise (MinAtar). `--render` writes a GIF of the first episode into the run folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from jaxlab.envs import GYMNASIUM_TWINS
from jaxlab.io.paths import TRIAL_SPEC, RunPaths
from jaxlab.spec import SpecError


@dataclass
class EnjoyResult:
    session: int
    checkpoint: str
    returns: np.ndarray
    gif: str | None


def best_session(paths: RunPaths, trial: int, num_sessions: int) -> int:
    """The session whose eval total_reward_ma is highest (the train one where eval metrics are missing)."""
    scores = []
    for s in range(num_sessions):
        for kind in ("eval", "train"):
            path = paths.session_metrics(trial, s, kind, scalar=True)
            if os.path.exists(path):
                with open(path) as f:
                    value = json.load(f).get("total_reward_ma")
                scores.append(-np.inf if value is None else value)
                break
        else:
            scores.append(-np.inf)
    if not np.isfinite(scores).any():
        raise SpecError(
            f"{paths.root} has no session metrics yet — let the run finish, or run jaxlab retro on it"
        )
    return int(np.argmax(scores))


def enjoy(config_spec: dict, trial_spec_path: str, episodes: int, render: bool) -> EnjoyResult:
    from jaxlab.export import ExportError, load_policy

    match = TRIAL_SPEC.fullmatch(os.path.basename(trial_spec_path))
    if not match or not os.path.isfile(trial_spec_path):
        raise SpecError(
            f"enjoy@{trial_spec_path}: give a trial spec of a run, data/<run>/<name>_t<T>_spec.json"
        )
    if match["name"] != config_spec["name"]:
        raise SpecError(
            f"enjoy@{trial_spec_path} is a run of {match['name']!r}, but the spec given is"
            f" {config_spec['name']!r}"
            " — pass that run's own spec, or none"
        )
    paths, trial = RunPaths(os.path.dirname(trial_spec_path) or ".", match["name"]), int(match["trial"])
    with open(trial_spec_path) as f:
        trial_spec = json.load(f)
    session = best_session(paths, trial, trial_spec["meta"]["max_session"])
    checkpoint = paths.model(trial, session, "net", best=True)
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
            raise SpecError(
                f"--render needs gymnasium's drawing extra: {str(error).splitlines()[0]}"
            ) from None
        if render:
            from jaxlab.io.gif import write_gif

            gif = paths.enjoy_gif(trial, session)
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

    from jaxlab import envs

    env = envs.make(env_spec, num_envs=episodes, normalize=False)
    if env.discrete:
        action_shape = jax.ShapeDtypeStruct((episodes,), np.int32)
    else:
        action_shape = jax.ShapeDtypeStruct((episodes, env.action_dim), np.float32)

    def torch_actions(obs: np.ndarray) -> np.ndarray:
        # A batch [episodes, *obs_shape] of numpy observations in, a batch of numpy actions out.
        return np.asarray(policy(obs)).astype(action_shape.dtype)

    def act(obs, _key):
        return jax.pure_callback(torch_actions, action_shape, obs)

    return np.asarray(
        jax.jit(lambda key: envs.first_episode_returns(env, key, act))(jax.random.PRNGKey(seed))
    )
