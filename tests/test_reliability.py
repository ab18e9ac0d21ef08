"""Reliability: SIGINT/SIGTERM save everything and exit, exact resume, and a diverging session isolated."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from jaxlab import experiment, run
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


def test_sigterm_saves_and_exits_within_30_seconds(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(env={"max_frame": 5_000_000}, meta={"log_frequency": 1024, "rigorous_eval": 0})))
    child = subprocess.Popen(
        [sys.executable, "-m", "jaxlab.run", str(path), "--data-dir", str(tmp_path), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 240
        while not any(p.name.endswith("session_df_train.csv") for p in tmp_path.glob("*/info/*")):
            assert child.poll() is None and time.time() < deadline, "the run never wrote a row"
            time.sleep(0.2)
        child.send_signal(signal.SIGTERM)
        sent = time.time()
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert time.time() - sent < 30
    assert child.returncode == 128 + signal.SIGTERM, err
    folder = only_folder(tmp_path)
    assert f"resume with: python -m jaxlab.run {path} train@{folder}" in err
    assert os.path.isdir(f"{folder}/model/tiny_t0_train_state")
    assert os.path.exists(f"{folder}/model/tiny_t0_s0_net_model.pt") and os.path.exists(f"{folder}/tiny_t0_trial_metrics_scalar.json")


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
    assert run.main([str(path), f"train@{tmp_path}/nothing_here"]) == 2
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
