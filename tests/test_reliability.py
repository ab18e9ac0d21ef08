"""Reliability: SIGINT/SIGTERM save everything and exit, exact resume, and a diverging session isolated."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from jaxlab import experiment, retro, run
from jaxlab.io.paths import FOLDER, RunPaths, release, timestamp
from tests.conftest import tiny_spec
from tests.test_output import CHECKER


def only_folder(data_dir) -> str:
    (folder,) = [p for p in os.scandir(data_dir) if p.is_dir()]
    return folder.path


def session_df(folder: str, session: int, kind: str) -> pd.DataFrame:
    name = os.path.basename(folder).rsplit("_", 4)[0]
    return pd.read_csv(f"{folder}/info/{name}_t0_s{session}_session_df_{kind}.csv").drop(columns=["wall_t", "fps"])


def test_interrupted_run_resumes_to_the_uninterrupted_rows(tmp_path, monkeypatch):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(env={"max_frame": 4096}, meta={"log_frequency": 128, "eval_frequency": 256})))
    assert run.main([str(path), "--data-dir", str(tmp_path / "whole"), "--no-progress"]) == 0

    # One checkpoint per call, and a real SIGINT once the 7th call's rows (3 eval rows) are written.
    monkeypatch.setattr(experiment, "SECONDS_PER_CALL", 1e-9)
    handled, handle = [], experiment.TrialGroup._handle

    def handle_then_interrupt(self, *args):
        end = handle(self, *args)
        handled.append(end)
        if len(handled) == 7:
            os.kill(os.getpid(), signal.SIGINT)
        return end

    monkeypatch.setattr(experiment.TrialGroup, "_handle", handle_then_interrupt)
    assert run.main([str(path), "--data-dir", str(tmp_path / "cut"), "--no-progress"]) == 128 + signal.SIGINT
    monkeypatch.undo()
    folder = only_folder(tmp_path / "cut")
    assert os.path.isdir(f"{folder}/model/tiny_t0_train_state")
    assert 7 <= len(session_df(folder, 0, "train")) < 32  # stopped mid-run
    if os.path.exists(CHECKER):  # the interrupted folder is complete up to there (it is zipped only when done)
        out = subprocess.run([sys.executable, CHECKER, folder], capture_output=True, text=True, check=False).stdout
        assert [line for line in out.splitlines() if line.startswith("FAIL")] == [f"FAIL missing {os.path.basename(folder)}.zip beside the folder"]

    assert run.main([str(path), f"train@{folder}", "--no-progress"]) == 0
    whole = only_folder(tmp_path / "whole")
    for s in range(2):
        for kind in ("train", "eval"):
            pd.testing.assert_frame_equal(session_df(folder, s, kind), session_df(whole, s, kind))
    assert not os.path.exists(f"{folder}/model/tiny_t0_train_state") and os.path.exists(f"{folder}.zip")
    assert "resuming" in Path(f"{folder}/log/tiny_t0.log").read_text()


LONG_RUN = ["-s", "env.max_frame=5000000", "-s", "meta.rigorous_eval=0"]


def start_cli(tmp_path, *args) -> subprocess.Popen:
    path = tmp_path / "tiny.yaml"
    if not path.exists():
        path.write_text(yaml.safe_dump(tiny_spec(meta={"log_frequency": 1024, "eval_frequency": 4096})))
    return subprocess.Popen(
        [sys.executable, "-m", "jaxlab.run", str(path), *args, "--data-dir", str(tmp_path / "data"), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_rows(child: subprocess.Popen, data_dir: Path) -> None:
    deadline = time.time() + 240
    while not any(p.name.endswith("session_df_train.csv") for p in data_dir.glob("*/info/*")):
        assert child.poll() is None and time.time() < deadline, "the run never wrote a row"
        time.sleep(0.1)


def interrupt(child: subprocess.Popen, *gaps: float, signum: int = signal.SIGINT) -> str:
    """Send `signum` now and again after each gap (seconds); returns stderr."""
    child.send_signal(signum)
    for gap in gaps:
        time.sleep(gap)
        child.send_signal(signum)
    try:
        return child.communicate(timeout=30)[1]
    finally:
        child.kill()


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A 2-session run started with overrides, stopped by one SIGINT part way: (folder, stderr)."""
    tmp = tmp_path_factory.mktemp("interrupted")
    child = start_cli(tmp, "-s", "env.max_frame=600000", "-s", "meta.max_session=2")
    wait_for_rows(child, tmp / "data")
    err = interrupt(child)
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
    resumed = subprocess.run(
        [sys.executable, *shlex.split(command.replace(interrupted[0], folder))[1:], "--no-progress"],
        capture_output=True, text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(meta={"log_frequency": 1024, "eval_frequency": 4096})))
    whole_run = ["-s", "env.max_frame=600000", "-s", "meta.max_session=2", "--data-dir", str(tmp_path / "whole")]
    assert run.main([str(path), *whole_run, "--no-progress"]) == 0
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
    assert "training further: env.max_frame raised from 600,000 to 700,000" in Path(f"{folder}/log/tiny_t0.log").read_text()
    assert session_df(folder, 1, "train")["frame"].iloc[-1] >= 700_000


@pytest.mark.parametrize("signum, gap", [(signal.SIGINT, 0.3), (signal.SIGTERM, 1.2)])
def test_a_second_signal_stops_at_once_and_says_what_was_saved(tmp_path, signum, gap):
    child = start_cli(tmp_path, *LONG_RUN)
    wait_for_rows(child, tmp_path / "data")
    sent = time.time()
    err = interrupt(child, gap, signum=signum)
    assert time.time() - sent < gap + 5  # not the rest of the save: at once
    assert child.returncode == 128 + signum, err
    assert f"{signal.Signals(signum).name} again: stopped at once" in err and "the session CSVs up to frame" in err
    folder = only_folder(tmp_path / "data")
    saved = re.search(r"the training state at frame ([\d,]+)", err)
    if saved:  # what it says is saved is there, and resumable
        progress = json.loads(Path(f"{folder}/model/tiny_t0_train_state/progress.json").read_text())
        assert progress["frame"] == int(saved[1].replace(",", ""))
    else:
        assert "the training state, so the run cannot be resumed" in err
    frame = int(re.search(r"up to frame ([\d,]+)", err)[1].replace(",", ""))
    assert session_df(folder, 0, "train")["frame"].iloc[-1] == frame


def test_two_runs_started_together_get_their_own_folders(tmp_path):
    children = [start_cli(tmp_path, "dev", "-s", f"meta.random_seed={seed}") for seed in (0, 1)]
    for child in children:
        assert child.wait(timeout=240) == 0, child.stderr.read()
    folders = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    zips = sorted((tmp_path / "data").glob("*.zip"))
    assert len(folders) == 2 and len(zips) == 2
    seeds = {json.loads((f / "tiny_t0_spec.json").read_text())["meta"]["random_seed"] for f in folders}
    assert seeds == {0, 1}


def test_a_folder_name_is_claimed_once(tmp_path):
    first, second = RunPaths.create("x", str(tmp_path)), RunPaths.create("x", str(tmp_path))
    assert first.root != second.root and FOLDER.fullmatch(os.path.basename(second.root))
    Path(f"{tmp_path}/x_{timestamp()}.zip").touch()  # a zip left by a run whose folder is gone
    third = RunPaths.create("x", str(tmp_path))
    assert not os.path.exists(third.zip) and third.root not in (first.root, second.root)
    for paths in (first, second, third):
        release(paths.root)


def test_every_session_diverging_writes_the_folder_and_exits_non_zero(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(meta={"log_frequency": 128, "eval_frequency": 256})))
    assert run.main([str(path), "-s", "agent.net.optim_spec.lr=1e30", "--data-dir", str(tmp_path), "--no-progress"]) == 3
    err = capsys.readouterr().err
    assert "every session diverged" in err
    folder = only_folder(tmp_path)
    meta = json.loads(Path(f"{folder}/tiny_t0_spec.json").read_text())["meta"]
    assert meta["diverged_sessions"] == [0, 1]
    assert json.loads(Path(f"{folder}/tiny_t0_trial_metrics_scalar.json").read_text())["diverged_sessions"] == 2
    assert os.path.exists(f"{folder}/info/tiny_t0_s1_session_metrics_eval.json")
    log = Path(f"{folder}/log/tiny_t0.log").read_text()
    assert "no session is left training" in log and "the other 0" not in log
    assert retro.main([folder]) == 0
    assert json.loads(Path(f"{folder}/tiny_t0_trial_metrics_scalar.json").read_text())["diverged_sessions"] == 2


def test_a_diverging_session_is_frozen_and_the_others_train_on(tmp_path, monkeypatch):
    raw = tiny_spec(meta={"max_session": 3, "log_frequency": 128, "eval_frequency": 256})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert run.main([str(path), "--data-dir", str(tmp_path / "normal"), "--no-progress"]) == 0

    session_hparams = experiment.session_hparams

    def huge_lr_for_session_1(hps, per_trial):
        hps = session_hparams(hps, per_trial)
        return hps.replace(lr=hps.lr.at[1].set(1e30))

    monkeypatch.setattr(experiment, "session_hparams", huge_lr_for_session_1)
    assert run.main([str(path), "--data-dir", str(tmp_path / "diverged"), "--no-progress"]) == 0
    folder, normal = only_folder(tmp_path / "diverged"), only_folder(tmp_path / "normal")
    for s in (0, 2):  # the other sessions: every row, the same as without the diverging one
        pd.testing.assert_frame_equal(session_df(folder, s, "train"), session_df(normal, s, "train"))
    assert len(session_df(folder, 1, "train")) < len(session_df(normal, 1, "train"))
    metrics = json.loads(Path(f"{folder}/tiny_t0_trial_metrics_scalar.json").read_text())
    assert metrics["diverged_sessions"] == 1
    assert json.loads(Path(f"{folder}/tiny_t0_spec.json").read_text())["meta"]["diverged_sessions"] == [1]
    assert "session tiny_t0_s1 diverged" in Path(f"{folder}/log/tiny_t0.log").read_text()
    assert os.path.exists(f"{folder}/model/tiny_t0_s1_net_model.pt")  # its last finite policy


def test_resume_refuses_a_finished_run_and_another_spec(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec()))
    assert run.main([str(path), "--data-dir", str(tmp_path), "--no-progress"]) == 0
    folder = only_folder(tmp_path)
    assert run.main([str(path), f"train@{folder}"]) == 2
    assert "no saved training state" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(tiny_spec(env={"num_envs": 8})))
    assert run.main([str(other), f"train@{folder}"]) == 2
    assert "env.num_envs is 8 here but 4 in the run" in capsys.readouterr().err
    assert run.main([f"train@{tmp_path}/nothing_here"]) == 2
    assert "is not a jaxlab run folder" in capsys.readouterr().err


def test_a_nan_loss_before_the_first_gradient_step_is_not_divergence(tmp_path):
    """DQN reports a NaN loss until training starts (here after the first checkpoint): every row is written."""
    from tests.test_dqn import tiny_dqn

    path = tmp_path / "dqn.yaml"
    path.write_text(yaml.safe_dump(tiny_dqn(training_start_step=300)))
    assert run.main([str(path), "--data-dir", str(tmp_path), "--no-progress"]) == 0
    folder = only_folder(tmp_path)
    train = session_df(folder, 0, "train")
    assert len(train) == 8 and train["loss"].isna().iloc[0] and train["loss"].notna().iloc[-1]
    assert json.loads(Path(f"{folder}/tiny_dqn_t0_trial_metrics_scalar.json").read_text())["diverged_sessions"] == 0
