"""Play an exported torch policy on the real gymnasium env (torch, numpy and gymnasium only: no JAX)."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np


def play_gymnasium(
    policy: Callable[[np.ndarray], np.ndarray],
    env_name: str,
    episodes: int,
    seed: int = 0,
    record_episode: int | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Returns [episodes] of `episodes` episodes of `policy` (a `jaxlab.export.Policy`, or any callable
    taking one raw gymnasium observation [*obs_shape] to its numpy action: [] for discrete, [D] for
    continuous) on gymnasium's `env_name`, and the RGB frames [H, W, 3] of episode `record_episode` when
    asked."""
    import gymnasium

    # Frames are drawn off-screen: keep pygame from probing for a display and a sound card.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    env = gymnasium.make(env_name, render_mode="rgb_array" if record_episode is not None else None)
    returns, frames = [], []
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            total, done = 0.0, False
            while not done:
                if episode == record_episode:
                    frames.append(env.render())
                action = policy(obs)  # numpy in, numpy out: one observation, no batch dim
                obs, reward, terminated, truncated, _ = env.step(
                    action.item() if action.ndim == 0 else action
                )
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return np.asarray(returns), frames
