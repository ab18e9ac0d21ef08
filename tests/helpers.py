"""Shared test helpers: building a spec's pieces, running its compiled program, reading run folders, and
driving the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from jaxlab import spec
from jaxlab.build import Built, build
from jaxlab.engine import SessionState, rows_to_numpy, session_hparams, session_keys
from tests.specs import tiny_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The output contract's checker, where the checkout has it beside (the project's CI does).
CHECKER = os.path.join(ROOT, "..", "shared", "tools", "check_contract.py")


def built_from(raw: dict) -> tuple[dict, Built]:
    validated = spec.validate(raw)
    return validated, build(validated)


def init_sessions(validated: dict, built: Built) -> SessionState:
    """The trial's sessions 0 .. max_session - 1, as a run starts them."""
    sessions = validated["meta"]["max_session"]
    keys = session_keys(validated["meta"]["random_seed"], sessions)
    return built.engine.init_sessions(keys, session_hparams([built.hp], sessions))


def run_rows(raw: dict, chunks: list[int] | None = None) -> dict[str, np.ndarray]:
    """Train with the given checkpoints per call (default: all in one); the rows stacked [C, S]."""
    return run_program(raw, chunks)[0]


def run_program(raw: dict, chunks: list[int] | None = None) -> tuple[dict[str, np.ndarray], SessionState]:
    validated, built = built_from(raw)
    state = init_sessions(validated, built)
    out = []
    for count in chunks or [built.plan.num_checkpoints]:
        state, rows, _ = built.engine.run_chunk(state, sum(len(o["frame"]) for o in out), count)
        out.append(rows_to_numpy(rows, count))
    return {k: np.concatenate([o[k] for o in out]) for k in out[0]}, state


def only_folder(data_dir) -> str:
    (folder,) = [p for p in os.scandir(data_dir) if p.is_dir()]
    return folder.path


def session_df(folder: str, session: int, kind: str, trial: int = 0) -> pd.DataFrame:
    """A session df without its timing columns (the only ones two runs of one spec may differ in)."""
    name = os.path.basename(folder).rsplit("_", 4)[0]
    path = f"{folder}/info/{name}_t{trial}_s{session}_session_df_{kind}.csv"
    return pd.read_csv(path).drop(columns=["wall_t", "fps"])


def write_spec(tmp_path: Path, raw: dict | None = None, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw if raw is not None else tiny_spec()))
    return path


def start_cli(spec_path: Path, data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaxlab.run",
            str(spec_path),
            *args,
            "--data-dir",
            str(data_dir),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(child: subprocess.Popen, data_dir: Path) -> None:
    deadline = time.time() + 240
    while not any(p.name.endswith("session_df_train.csv") for p in Path(data_dir).glob("*/info/*")):
        assert child.poll() is None and time.time() < deadline, "the run never wrote a row"
        time.sleep(0.1)


def interrupt(child: subprocess.Popen, *gaps: float, signum: int) -> str:
    """Send `signum` now and again after each gap (seconds); returns stderr."""
    child.send_signal(signum)
    for gap in gaps:
        time.sleep(gap)
        child.send_signal(signum)
    try:
        return child.communicate(timeout=30)[1]
    finally:
        child.kill()
