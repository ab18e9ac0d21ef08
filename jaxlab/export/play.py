"""Play an exported torch policy on the real gymnasium env (torch, numpy and gymnasium only: no JAX)."""

from __future__ import annotations

import os

import numpy as np
import torch


def play_gymnasium(
    policy: torch.nn.Module, env_name: str, episodes: int, seed: int = 0, record_episode: int | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Returns of `episodes` episodes of `policy` (obs [B, ...] -> actions [B, ...]) on gymnasium's
    `env_name`, and the RGB frames of episode `record_episode` when asked."""
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
                with torch.no_grad():
                    action = policy(torch.as_tensor(np.asarray(obs, np.float32)[None]))[0].numpy()
                obs, reward, terminated, truncated, _ = env.step(action.item() if action.ndim == 0 else action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return np.asarray(returns), frames
