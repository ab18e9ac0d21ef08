"""The mode drivers through the CLI: dev mode's folder, Ctrl-C -> the printed command -> the rows of a run
never stopped, resuming further or refusing other changes, and two runs started together."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from jaxlab import run
from jaxlab.io.paths import RunPaths, release
from jaxlab.io.session_df import COLUMNS
from tests.helpers import interrupt, only_folder, session_df, start_cli, wait_for_rows, write_spec
from tests.specs import tiny_spec

OVERRIDES = ["-s", "env.max_frame=600000", "-s", "meta.max_session=2"]
SPEC = tiny_spec(meta={"log_frequency": 1024, "eval_frequency": 4096})


def test_dev_mode_writes_session_csvs_with_contract_columns(tmp_path):
    path = write_spec(tmp_path)
    assert run.main([str(path), "dev", "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    df = pd.read_csv(folder / "info" / "tiny_t0_s0_session_df_train.csv")
    assert tuple(df.columns[: len(COLUMNS)]) == COLUMNS and {"entropy", "clip_eps"} <= set(df.columns)
    assert len(df) == 16 and (np.diff(df["frame"]) > 0).all()
    np.testing.assert_allclose(df["fps"], df["frame"] / df["wall_t"], rtol=1e-6)
    assert not (folder / "info" / "tiny_t0_s1_session_df_train.csv").exists()  # dev: one session
    log = (folder / "log" / "tiny_t0.log").read_text()
    assert "compiled in" in log and "total_reward_ma per session" in log and "1 session x 4 envs" in log


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A 2-session run started with overrides, stopped by one SIGINT part way: (folder, stderr)."""
    tmp = tmp_path_factory.mktemp("interrupted")
    child = start_cli(write_spec(tmp, SPEC), tmp / "data", *OVERRIDES)
    wait_for_rows(child, tmp / "data")
    err = interrupt(child, signum=signal.SIGINT)
    assert child.returncode == 128 + signal.SIGINT, err
    return only_folder(tmp / "data"), err


def copy_run(folder: str, tmp_path: Path) -> str:
    copy = str(tmp_path / os.path.basename(folder))
    shutil.copytree(folder, copy)
    return copy


def test_the_printed_command_resumes_to_the_uninterrupted_rows(interrupted, tmp_path):
    """Ctrl-C -> the printed command, as printed -> the rows of a run never stopped (overrides included)."""
    folder, err = interrupted
    assert os.path.isdir(f"{folder}/model/tiny_t0_train_state")
    (command,) = re.findall(r"resume with: (.+)", err)
    assert command == f"python -m jaxlab.run train@{folder}"
    folder = copy_run(folder, tmp_path)
    argv = shlex.split(command.replace(interrupted[0], folder))[1:]
    resumed = subprocess.run([sys.executable, *argv, "--no-progress"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    whole_run = [
        str(write_spec(tmp_path, SPEC)),
        *OVERRIDES,
        "--data-dir",
        str(tmp_path / "whole"),
        "--no-progress",
    ]
    assert run.main(whole_run) == 0
    whole = only_folder(tmp_path / "whole")
    for s in range(2):
        for kind in ("train", "eval"):
            pd.testing.assert_frame_equal(session_df(folder, s, kind), session_df(whole, s, kind))
    log = Path(f"{folder}/log/tiny_t0.log").read_text()
    assert "resuming" in log
    # The frames/s line counts the frames trained since the resume, not the whole run's.
    resumed_frames = int(re.findall(r"([\d,]+) frames in [\d.]+ s", log)[-1].replace(",", ""))
    assert 0 < resumed_frames < 2 * 600_000
    assert not os.path.exists(f"{folder}/model/tiny_t0_train_state") and os.path.exists(f"{folder}.zip")


def test_resume_may_raise_max_frame_and_refuses_other_changes(interrupted, tmp_path, capsys):
    folder = copy_run(interrupted[0], tmp_path)
    assert run.main([f"train@{folder}", "-s", "env.max_frame=100000"]) == 2
    assert "env.max_frame = 100,000 is below the run's 600,000" in capsys.readouterr().err
    assert run.main([f"train@{folder}", "-s", "env.num_envs=8"]) == 2
    assert "env.num_envs is 8 here but 4 in the run" in capsys.readouterr().err
    RunPaths.existing(folder, lock=True)  # another run holds the folder
    try:
        assert run.main([f"train@{folder}"]) == 2
        assert "is in use by another jaxlab run" in capsys.readouterr().err
    finally:
        release(folder)
    assert run.main([f"train@{folder}", "-s", "env.max_frame=700000", "--no-progress"]) == 0
    log = Path(f"{folder}/log/tiny_t0.log").read_text()
    assert "training further: env.max_frame raised from 600,000 to 700,000" in log
    assert session_df(folder, 1, "train")["frame"].iloc[-1] >= 700_000


def test_resume_refuses_a_finished_run_and_another_spec(tmp_path, capsys):
    path = write_spec(tmp_path)
    assert run.main([str(path), "--data-dir", str(tmp_path), "--no-progress"]) == 0
    folder = only_folder(tmp_path)
    assert run.main([str(path), f"train@{folder}"]) == 2
    assert "no saved training state" in capsys.readouterr().err
    other = write_spec(tmp_path, tiny_spec(env={"num_envs": 8}), "other.yaml")
    assert run.main([str(other), f"train@{folder}"]) == 2
    assert "env.num_envs is 8 here but 4 in the run" in capsys.readouterr().err
    assert run.main([f"train@{tmp_path}/nothing_here"]) == 2
    assert "is not a jaxlab run folder" in capsys.readouterr().err


def test_two_runs_started_together_get_their_own_folders(tmp_path):
    path = write_spec(tmp_path)
    children = [
        start_cli(path, tmp_path / "data", "dev", "-s", f"meta.random_seed={seed}") for seed in (0, 1)
    ]
    for child in children:
        assert child.wait(timeout=240) == 0, child.stderr.read()
    folders = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    zips = sorted((tmp_path / "data").glob("*.zip"))
    assert len(folders) == 2 and len(zips) == 2
    seeds = {json.loads((f / "tiny_t0_spec.json").read_text())["meta"]["random_seed"] for f in folders}
    assert seeds == {0, 1}
    assert yaml.safe_load(path.read_text())["name"] == "tiny"
