"""Names and places of every file a run writes, as docs/output.md lays them out, and the claim of a run
folder: a folder belongs to one run, which holds a lock on it while it runs."""

from __future__ import annotations

import datetime
import fcntl
import os
import re
from dataclasses import dataclass

TS_FORMAT = "%Y_%m_%d_%H%M%S"
FOLDER = re.compile(r"(?P<name>.+)_(?P<ts>\d{4}_\d{2}_\d{2}_\d{6})")
TRIAL_SPEC = re.compile(r"(?P<name>.+)_t(?P<trial>\d+)_spec\.json")
MODEL_FILE = re.compile(
    r"(?P<name>.+)_t(?P<trial>\d+)_s(?P<session>\d+)_(?P<best>ckpt-best_)?(?P<net>[A-Za-z0-9_]+)_model\.pt"
)
MODEL_FILE_PATTERN = "{name}_t{T}_s{S}[_ckpt-best]_{net}_model.pt"
SUBFOLDERS = ("graph", "info", "log", "model")
MAX_CLAIM_TRIES = 3600  # a clash takes the next second's name; an hour of them means something else is wrong

_held_locks: dict[str, int] = {}  # run folder -> the open descriptor that holds its lock


class FolderInUse(RuntimeError):
    """Another process holds the run folder's lock."""


def timestamp(moment: datetime.datetime | None = None) -> str:
    return (moment or datetime.datetime.now()).strftime(TS_FORMAT)


def _lock(root: str) -> None:
    """Hold an exclusive lock on the folder for this process's life (released by `release`, or when the
    process ends, however it ends)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderInUse(f"{root} is in use by another jaxlab run") from None
    _held_locks[os.path.abspath(root)] = fd


def release(root: str) -> None:
    """Let go of a run folder claimed or locked by this process."""
    fd = _held_locks.pop(os.path.abspath(root), None)
    if fd is not None:
        os.close(fd)


@dataclass(frozen=True)
class ModelFile:
    """What a `.pt` file's name says: its run folder, trial, session, network and whether it is ckpt-best."""

    paths: RunPaths
    trial: int
    session: int
    net: str
    best: bool

    @classmethod
    def parse(cls, path: str) -> ModelFile | None:
        """None when `path` is not named like a model file (MODEL_FILE_PATTERN) of a run's model/ folder."""
        match = MODEL_FILE.fullmatch(os.path.basename(path))
        if match is None:
            return None
        root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        paths = RunPaths(root, match["name"])
        return cls(paths, int(match["trial"]), int(match["session"]), match["net"], bool(match["best"]))

    def sibling(self, net: str) -> str:
        """The file of another network of the same session and checkpoint."""
        return self.paths.model(self.trial, self.session, net, self.best)


@dataclass(frozen=True)
class RunPaths:
    """`data/{name}_{ts}/` and the names of its files."""

    root: str  # the run folder
    name: str

    @classmethod
    def create(cls, name: str, data_dir: str = "data") -> RunPaths:
        """Claim a new run folder: `os.mkdir` succeeds for one process only, so two runs started in the same
        second never share a folder; on a clash (or a zip of that name left behind) the next second's name is
        taken. The folder stays locked by this process until `release`."""
        os.makedirs(data_dir, exist_ok=True)
        moment = datetime.datetime.now().replace(microsecond=0)
        for _ in range(MAX_CLAIM_TRIES):
            root = os.path.join(data_dir, f"{name}_{timestamp(moment)}")
            moment += datetime.timedelta(seconds=1)
            if os.path.exists(root + ".zip"):
                continue
            try:
                os.mkdir(root)
            except FileExistsError:
                continue
            _lock(root)
            for sub in SUBFOLDERS:
                os.mkdir(os.path.join(root, sub))
            return cls(root, name)
        raise FileExistsError(
            f"no free run folder name for {name} in {data_dir} after {MAX_CLAIM_TRIES} tries"
        )

    @classmethod
    def existing(cls, folder: str, lock: bool = False) -> RunPaths:
        """The paths of a run folder on disk; ValueError when `folder` is not one. `lock`: also take its lock
        (to write into it: resume), FolderInUse when another run holds it."""
        folder = folder.rstrip("/")
        match = FOLDER.fullmatch(os.path.basename(folder))
        if not match or not os.path.isdir(folder):
            raise ValueError(f"{folder} is not a jaxlab run folder (data/{{name}}_YYYY_MM_DD_HHMMSS)")
        if lock:
            _lock(folder)
        return cls(folder, match["name"])

    @property
    def ts(self) -> str:
        """The folder's timestamp, YYYY_MM_DD_HHMMSS."""
        return os.path.basename(self.root)[len(self.name) + 1 :]

    @property
    def zip(self) -> str:
        return self.root + ".zip"

    # ---- prefixes (SLM Lab's prepaths) ----
    def trial_prefix(self, trial: int) -> str:
        return f"{self.name}_t{trial}"

    def session_prefix(self, trial: int, session: int) -> str:
        return f"{self.name}_t{trial}_s{session}"

    def _in(self, folder: str, file_name: str) -> str:
        return os.path.join(self.root, folder, file_name) if folder else os.path.join(self.root, file_name)

    # ---- the folder's files ----
    def spec(self) -> str:
        return self._in("", f"{self.name}_spec.json")

    def trial_spec(self, trial: int) -> str:
        return self._in("", f"{self.trial_prefix(trial)}_spec.json")

    def trial_specs(self) -> list[str]:
        """The trial spec files in the folder, by trial index."""
        found = [TRIAL_SPEC.fullmatch(entry) for entry in os.listdir(self.root)]
        trials = sorted(int(m["trial"]) for m in found if m and m["name"] == self.name)
        return [self.trial_spec(t) for t in trials]

    def session_df(self, trial: int, session: int, kind: str) -> str:
        return self._in("info", f"{self.session_prefix(trial, session)}_session_df_{kind}.csv")

    def session_metrics(self, trial: int, session: int, kind: str, scalar: bool) -> str:
        scalar_tag = "_scalar" if scalar else ""
        return self._in(
            "info", f"{self.session_prefix(trial, session)}_session_metrics{scalar_tag}_{kind}.json"
        )

    def trial_metrics(self, trial: int, scalar: bool, in_root: bool = False) -> str:
        file_name = f"{self.trial_prefix(trial)}_trial_metrics{'_scalar' if scalar else ''}.json"
        return self._in("" if in_root else "info", file_name)

    def experiment_df(self, in_root: bool = False) -> str:
        return self._in("" if in_root else "info", f"{self.name}_experiment_df.csv")

    def graph(self, stem: str, in_root: bool = False) -> str:
        """A graph's path without its extension (.html and .png are written)."""
        return self._in("" if in_root else "graph", stem)

    def model(self, trial: int, session: int, net: str, best: bool) -> str:
        tag = "ckpt-best_" if best else ""
        return self._in("model", f"{self.session_prefix(trial, session)}_{tag}{net}_model.pt")

    def model_dir(self) -> str:
        return self._in("model", "")

    def train_state_dir(self, trial: int) -> str:
        return self._in("model", f"{self.trial_prefix(trial)}_train_state")

    def log_file(self, trial: int) -> str:
        return self._in("log", f"{self.trial_prefix(trial)}.log")

    def tensorboard_dir(self, trial: int, session: int) -> str:
        """One folder per session: TensorBoard shows each folder as its own run."""
        return self._in("log", self.session_prefix(trial, session))

    def enjoy_gif(self, trial: int, session: int) -> str:
        return self._in("", f"{self.session_prefix(trial, session)}_enjoy.gif")

    def slm_meta(self, trial: int = -1) -> dict:
        """SLM Lab's runtime meta keys for the spec (`trial` -1) or a trial spec, as SLM Lab writes them:
        paths under `data/` (SLM Lab reads them from its own folder, where a run folder goes into data/), a
        `prepath` being a file path without its suffix. SLM Lab's own tools (`slm-lab plot`, its
        retro-analysis) find the files with them."""
        predir = f"data/{os.path.basename(self.root)}"
        prefix = self.name if trial < 0 else self.trial_prefix(trial)
        return {
            "experiment": 0,
            "trial": trial,
            "session": -1,
            "predir": predir,
            "prepath": f"{predir}/{prefix}",
            **{f"{sub}_prepath": f"{predir}/{sub}/{prefix}" for sub in SUBFOLDERS},
        }
