"""Progress: frames over all sessions, their rate, and total_reward_ma across sessions. A live bar on a
terminal; where stderr is not a terminal (a log file, CI), a log line at most every LOG_SECONDS instead of
the bar's carriage-return frames."""

from __future__ import annotations

import sys
import time

import numpy as np
from tqdm import tqdm

from jaxlab.io import log as run_log

LOG_SECONDS = 30.0


class Progress:
    def __init__(self, total_frames: int, num_sessions: int, enabled: bool = True):
        self.total_frames, self.enabled = total_frames, enabled
        self.live = enabled and sys.stderr.isatty()
        self.bar = tqdm(
            total=total_frames,
            unit="frame",
            unit_scale=True,
            dynamic_ncols=True,
            disable=not self.live,
            file=sys.stderr,
            desc=f"{num_sessions} session{'s' if num_sessions != 1 else ''}",
        )
        self.started = self.logged_at = time.perf_counter()
        self.first_frames: int | None = None

    def update(self, frames_done: int, reward_ma: np.ndarray) -> None:
        """`frames_done` over all sessions; `reward_ma` latest total_reward_ma of each running session."""
        finite = reward_ma[np.isfinite(reward_ma)]
        ma = f"{finite.mean():.1f} (min {finite.min():.1f}, max {finite.max():.1f})" if finite.size else "n/a"
        if self.live:
            self.bar.set_postfix_str(f"total_reward_ma {ma}", refresh=False)
            self.bar.update(frames_done - self.bar.n)
            return
        now = time.perf_counter()
        if self.first_frames is None:  # a resumed run starts part way
            self.first_frames, self.started = frames_done, now
        if self.enabled and now - self.logged_at >= LOG_SECONDS:
            self.logged_at = now
            rate = (frames_done - self.first_frames) / max(now - self.started, 1e-9)
            run_log.get().info(
                f"{frames_done:,} of {self.total_frames:,} frames"
                f" ({100 * frames_done / self.total_frames:.0f}%),"
                f" {rate:,.0f} frames/s, total_reward_ma {ma}"
            )

    def close(self) -> None:
        self.bar.close()
