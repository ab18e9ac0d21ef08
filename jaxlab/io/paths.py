"""Names and places of every file a run writes, as CONTRACT.md lays them out."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

FOLDER = re.compile(r"(?P<name>.+)_\d{4}_\d{2}_\d{2}_\d{6}")


def timestamp() -> str:
    return time.strftime("%Y_%m_%d_%H%M%S")


@dataclass(frozen=True)
class RunPaths:
    """`data/{name}_{ts}/` and the prefixes of its files."""

    root: str  # the run folder
    name: str

    @classmethod
    def create(cls, name: str, data_dir: str = "data", ts: str | None = None) -> RunPaths:
        paths = cls(os.path.join(data_dir, f"{name}_{ts or timestamp()}"), name)
        for sub in ("", "graph", "info", "log", "model"):
            os.makedirs(os.path.join(paths.root, sub), exist_ok=True)
        return paths

    @classmethod
    def existing(cls, folder: str) -> RunPaths:
        """The paths of a run folder on disk; ValueError when `folder` is not one."""
        folder = folder.rstrip("/")
        match = FOLDER.fullmatch(os.path.basename(folder))
        if not match or not os.path.isdir(folder):
            raise ValueError(f"{folder} is not a jaxlab run folder (data/{{name}}_YYYY_MM_DD_HHMMSS)")
        return cls(folder, match["name"])

    @property
    def ts(self) -> str:
        """The folder's timestamp, YYYY_MM_DD_HHMMSS."""
        return os.path.basename(self.root)[len(self.name) + 1 :]

    def trial_prefix(self, trial: int) -> str:
        return f"{self.name}_t{trial}"

    def session_prefix(self, trial: int, session: int) -> str:
        return f"{self.name}_t{trial}_s{session}"

    def session_df(self, trial: int, session: int, kind: str) -> str:
        return os.path.join(self.root, "info", f"{self.session_prefix(trial, session)}_session_df_{kind}.csv")

    def train_state_dir(self, trial: int) -> str:
        return os.path.join(self.root, "model", f"{self.trial_prefix(trial)}_train_state")

    def log_file(self, trial: int) -> str:
        return os.path.join(self.root, "log", f"{self.trial_prefix(trial)}.log")
