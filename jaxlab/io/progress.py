"""The live progress bar: frames, fps and total_reward_ma across sessions (mean / min / max)."""

from __future__ import annotations

import sys

import numpy as np
from tqdm import tqdm


class Progress:
    def __init__(self, total_frames: int, num_sessions: int, enabled: bool = True):
        self.bar = tqdm(
            total=total_frames, unit="frame", unit_scale=True, dynamic_ncols=True, disable=not enabled,
            file=sys.stderr, desc=f"{num_sessions} session{'s' if num_sessions > 1 else ''}",
        )

    def update(self, frame: int, fps: float, reward_ma: np.ndarray) -> None:
        """`frame` per session; `reward_ma` [S] latest total_reward_ma of each session."""
        finite = reward_ma[np.isfinite(reward_ma)]
        ma = f"{finite.mean():.1f} [{finite.min():.1f}, {finite.max():.1f}]" if finite.size else "n/a"
        self.bar.set_postfix_str(f"fps {fps:,.0f}  total_reward_ma {ma}", refresh=False)
        self.bar.update(frame - self.bar.n)

    def close(self) -> None:
        self.bar.close()
