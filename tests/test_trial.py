"""The host loop of a program: a real SIGINT stops it at a call boundary with everything saved, and the resume
gives the rows of a run never stopped (DQN with prioritized replay and SAC, whose replay state is the
fragile part; PPO's through the CLI in test_experiment.py); a diverging session is frozen while the others
train on; every session diverging still leaves the folder."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from jaxlab import experiment, retro, run, spec
from jaxlab.trial import Hooks
from tests.helpers import only_folder, session_df, write_spec
from tests.io.test_output import CHECKER
from tests.specs import tiny_dqn, tiny_sac, tiny_spec


def interrupt_after(calls: int) -> Hooks:
    """One checkpoint per call, and a real SIGINT once the `calls`-th call's rows are handled."""

    def after_call(handled: int) -> None:
        if handled == calls:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(
                0.2
            )  # the watcher thread takes the signal; without a pause a few more tiny calls go by

    return Hooks(seconds_per_call=1e-9, after_call=after_call)


RESUMED = {
    "ppo": tiny_spec(env={"max_frame": 4096}, meta={"log_frequency": 128, "eval_frequency": 256}),
    "ddqn_per": tiny_dqn(name="DoubleDQN") | {"name": "tiny"},
    "sac": tiny_sac(memory="PrioritizedReplay", training_iter=2) | {"name": "tiny"},
}
RESUMED["ddqn_per"]["agent"]["memory"]["name"] = "PrioritizedReplay"


@pytest.mark.parametrize("algorithm", ["ddqn_per", "sac"])  # PPO's resume: test_experiment.py, by the CLI
def test_an_interrupted_run_resumes_to_the_uninterrupted_rows(tmp_path, algorithm):
    validated = spec.validate(RESUMED[algorithm])
    experiment.run(validated, data_dir=str(tmp_path / "whole"), progress=False)
    with pytest.raises(experiment.Interrupted) as stopped:
        experiment.run(validated, data_dir=str(tmp_path / "cut"), progress=False, hooks=interrupt_after(5))
    folder = stopped.value.root
    assert os.path.isdir(f"{folder}/model/tiny_t0_train_state") and stopped.value.signum == signal.SIGINT
    assert 5 <= len(session_df(folder, 0, "train")) < 8  # stopped mid-run: one checkpoint per call
    experiment.resume(folder, progress=False)
    whole = only_folder(tmp_path / "whole")
    for s in range(2):
        for kind in ("train", "eval"):
            pd.testing.assert_frame_equal(session_df(folder, s, kind), session_df(whole, s, kind))
    assert not os.path.exists(f"{folder}/model/tiny_t0_train_state") and os.path.exists(f"{folder}.zip")
    assert "resuming" in Path(f"{folder}/log/tiny_t0.log").read_text()


def test_an_interrupted_folder_is_complete_but_for_its_zip(tmp_path):
    validated = spec.validate(RESUMED["ppo"])
    with pytest.raises(experiment.Interrupted) as stopped:
        experiment.run(validated, data_dir=str(tmp_path), progress=False, hooks=interrupt_after(7))
    if os.path.exists(CHECKER):
        out = subprocess.run(
            [sys.executable, CHECKER, stopped.value.root], capture_output=True, text=True
        ).stdout
        fails = [line for line in out.splitlines() if line.startswith("FAIL")]
        assert fails == [f"FAIL missing {os.path.basename(stopped.value.root)}.zip beside the folder"]
    meta = json.loads(Path(f"{stopped.value.root}/tiny_t0_spec.json").read_text())["meta"]
    assert meta["interrupted_at_frame"] == session_df(stopped.value.root, 0, "train")["frame"].iloc[-1]


def test_a_diverging_session_is_frozen_and_the_others_train_on(tmp_path):
    validated = spec.validate(tiny_spec(meta={"max_session": 3, "log_frequency": 128, "eval_frequency": 256}))
    experiment.run(validated, data_dir=str(tmp_path / "normal"), progress=False)

    def huge_lr_for_session_1(hps):
        lr = {name: lr.at[1].set(1e30) for name, lr in hps.nets.lr.items()}
        return hps.replace(nets=hps.nets.replace(lr=lr))

    huge_lr_for_session_1 = Hooks(session_hparams=huge_lr_for_session_1)
    experiment.run(
        validated, data_dir=str(tmp_path / "diverged"), progress=False, hooks=huge_lr_for_session_1
    )
    folder, normal = only_folder(tmp_path / "diverged"), only_folder(tmp_path / "normal")
    for s in (0, 2):  # the other sessions: every row, the same as without the diverging one
        pd.testing.assert_frame_equal(session_df(folder, s, "train"), session_df(normal, s, "train"))
    assert len(session_df(folder, 1, "train")) < len(session_df(normal, 1, "train"))
    metrics = json.loads(Path(f"{folder}/tiny_t0_trial_metrics_scalar.json").read_text())
    assert metrics["diverged_sessions"] == 1
    assert json.loads(Path(f"{folder}/tiny_t0_spec.json").read_text())["meta"]["diverged_sessions"] == [1]
    log = Path(f"{folder}/log/tiny_t0.log").read_text()
    assert "session tiny_t0_s1 diverged" in log and "the other 2 sessions train on" in log
    assert os.path.exists(f"{folder}/model/tiny_t0_s1_net_model.pt")  # its last finite policy


def test_every_session_diverging_writes_the_folder_and_exits_non_zero(tmp_path, capsys):
    path = write_spec(tmp_path, tiny_spec(meta={"log_frequency": 128, "eval_frequency": 256}))
    argv = [str(path), "-s", "agent.net.optim_spec.lr=1e30", "--data-dir", str(tmp_path), "--no-progress"]
    assert run.main(argv) == 3
    assert "every session diverged" in capsys.readouterr().err
    folder = only_folder(tmp_path)
    meta = json.loads(Path(f"{folder}/tiny_t0_spec.json").read_text())["meta"]
    assert meta["diverged_sessions"] == [0, 1]
    assert (
        json.loads(Path(f"{folder}/tiny_t0_trial_metrics_scalar.json").read_text())["diverged_sessions"] == 2
    )
    assert os.path.exists(f"{folder}/info/tiny_t0_s1_session_metrics_eval.json")
    log = Path(f"{folder}/log/tiny_t0.log").read_text()
    assert "no session is left training" in log and "the other 0" not in log
    assert retro.main([folder]) == 0
    assert (
        json.loads(Path(f"{folder}/tiny_t0_trial_metrics_scalar.json").read_text())["diverged_sessions"] == 2
    )


def test_a_nan_loss_before_the_first_gradient_step_is_not_divergence(tmp_path):
    """DQN reports a NaN loss until training starts (here after the first checkpoint): every row is
    written."""
    experiment.run(spec.validate(tiny_dqn(training_start_step=300)), data_dir=str(tmp_path), progress=False)
    folder = only_folder(tmp_path)
    train = session_df(folder, 0, "train")
    assert len(train) == 8 and train["loss"].isna().iloc[0] and train["loss"].notna().iloc[-1]
    metrics = json.loads(Path(f"{folder}/tiny_dqn_t0_trial_metrics_scalar.json").read_text())
    assert metrics["diverged_sessions"] == 0
