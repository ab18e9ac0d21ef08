"""The live progress bar: frames over all sessions, their rate, and total_reward_ma across sessions."""

from __future__ import annotations

import sys

import numpy as np
from tqdm import tqdm


class Progress:
    def __init__(self, total_frames: int, num_sessions: int, enabled: bool = True):
        self.bar = tqdm(
            total=total_frames, unit="frame", unit_scale=True, dynamic_ncols=True,
            disable=not enabled, file=sys.stderr, desc=f"{num_sessions} session{'s' if num_sessions > 1 else ''}",
        )

    def update(self, frames_done: int, reward_ma: np.ndarray) -> None:
        """`frames_done` over all sessions; `reward_ma` latest total_reward_ma of each running session."""
        finite = reward_ma[np.isfinite(reward_ma)]
        ma = f"{finite.mean():.1f} (min {finite.min():.1f}, max {finite.max():.1f})" if finite.size else "n/a"
        self.bar.set_postfix_str(f"total_reward_ma {ma}", refresh=False)
        self.bar.update(frames_done - self.bar.n)

    def close(self) -> None:
        self.bar.close()
