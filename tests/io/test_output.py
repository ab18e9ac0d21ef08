"""The run folder: every writer, the contract checker on a real tiny run, retro-analysis, reproduction."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from jaxlab import run
from tests.helpers import CHECKER


def test_folder_passes_the_contract_checker(run_folder):
    if not os.path.exists(CHECKER):
        pytest.skip("shared/tools/check_contract.py is not beside this checkout")
    proc = subprocess.run([sys.executable, CHECKER, str(run_folder)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert "contract: 0 problems" in proc.stdout


def test_eval_rows_come_every_eval_frequency(run_folder):
    eval_df = pd.read_csv(run_folder / "info" / "tiny_t0_s0_session_df_eval.csv")
    train_df = pd.read_csv(run_folder / "info" / "tiny_t0_s0_session_df_train.csv")
    np.testing.assert_array_equal(eval_df["frame"], [512, 1024, 1536, 2048])
    assert list(eval_df.columns) == list(train_df.columns)
    # Eval returns come from the greedy policy on other env copies, not the training episodes.
    merged = train_df.set_index("frame").loc[eval_df["frame"]]
    assert not np.allclose(merged["total_reward"].to_numpy(), eval_df["total_reward"].to_numpy())


def test_checkpoints_load_as_plain_state_dicts(run_folder):
    for name in ("tiny_t0_s1_net_model.pt", "tiny_t0_s1_ckpt-best_critic_net_model.pt"):
        state_dict = torch.load(run_folder / "model" / name, weights_only=True)
        assert all(t.dtype == torch.float32 for t in state_dict.values())
    policy = torch.load(run_folder / "model" / "tiny_t0_s0_net_model.pt", weights_only=True)
    assert {k: tuple(v.shape) for k, v in policy.items()} == {
        "model.0.weight": (16, 4),
        "model.0.bias": (16,),
        "tails.0.weight": (2, 16),
        "tails.0.bias": (2,),
    }


def test_trial_spec_holds_runtime_meta(run_folder):
    meta = json.loads((run_folder / "tiny_t0_spec.json").read_text())["meta"]
    assert meta["git_sha"] and meta["trial"] == 0 and len(meta["session_keys"]) == 2
    assert 15 < meta["random_baseline"] < 30  # a random CartPole policy lasts ~22 steps
    assert meta["compile_seconds"] > 0 and meta["versions"]["jax"]


def test_tensorboard_shows_each_session_as_its_own_run(run_folder):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    multiplexer = EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(run_folder / "log"))
    multiplexer.Reload()
    runs = multiplexer.Runs()
    assert sorted(runs) == ["tiny_t0_s0", "tiny_t0_s1"]
    train_df = pd.read_csv(run_folder / "info" / "tiny_t0_s0_session_df_train.csv")
    for run_name in runs:
        tags = set(multiplexer.GetAccumulator(run_name).Tags()["tensors"])
        assert {"train/total_reward", "train/loss", "eval/total_reward_ma", "train/entropy"} <= tags
        steps = [event.step for event in multiplexer.Tensors(run_name, "train/loss")]
        assert steps == sorted(set(steps)) == train_df["frame"].tolist()  # one point per row, no step twice


def test_metrics_files_follow_slm_lab(run_folder):
    """SLM Lab's {scalar, local} files, whose local series have one value per df row, and its runtime meta."""
    eval_df = pd.read_csv(run_folder / "info" / "tiny_t0_s1_session_df_eval.csv")
    session_keys = {
        "mean_returns",
        "strengths",
        "sample_efficiencies",
        "training_efficiencies",
        "stabilities",
        "frames",
        "opt_steps",
    }
    for kind in ("train", "eval"):
        metrics = json.loads((run_folder / "info" / f"tiny_t0_s1_session_metrics_{kind}.json").read_text())
        assert set(metrics) == {"scalar", "local"} and set(metrics["local"]) == session_keys
        scalar = json.loads(
            (run_folder / "info" / f"tiny_t0_s1_session_metrics_scalar_{kind}.json").read_text()
        )
        assert metrics["scalar"] == scalar
    local = json.loads((run_folder / "info" / "tiny_t0_s1_session_metrics_eval.json").read_text())["local"]
    assert local["frames"] == eval_df["frame"].tolist()
    np.testing.assert_allclose(local["mean_returns"], eval_df["total_reward"])
    trial = json.loads((run_folder / "info" / "tiny_t0_trial_metrics.json").read_text())
    assert set(trial) == {"scalar", "local"}
    assert set(trial["local"]) == session_keys - {"frames", "opt_steps"} | {
        "consistencies",
        "frames",
        "opt_steps",
    }
    assert len(trial["local"]["strengths"]) == 2 and len(trial["local"]["consistencies"]) == len(eval_df)
    meta = json.loads((run_folder / "tiny_t0_spec.json").read_text())["meta"]
    assert (meta["experiment"], meta["trial"], meta["session"]) == (0, 0, -1)
    # As SLM Lab writes them: under data/, where SLM Lab's tools look (its retro-analysis reads these paths).
    assert meta["info_prepath"] == f"data/{run_folder.name}/info/tiny_t0"
    assert meta["prepath"] == f"data/{run_folder.name}/tiny_t0"


def test_files_are_readable_by_others_under_the_umask(run_folder):
    """Written like open() under the test's umask (022 here): not mkstemp's 0600."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [run_folder.parent / f"{run_folder.name}.zip", *run_folder.rglob("*")]:
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


def test_zip_and_log(run_folder):
    assert (run_folder.parent / f"{run_folder.name}.zip").exists()
    assert "compiled in" in (run_folder / "log" / "tiny_t0.log").read_text()


def test_trial_spec_reproduces_the_numbers(run_folder, tmp_path):
    assert (
        run.main([str(run_folder / "tiny_t0_spec.json"), "--data-dir", str(tmp_path), "--no-progress"]) == 0
    )
    (again,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for kind in ("train", "eval"):
        first = pd.read_csv(run_folder / "info" / f"tiny_t0_s1_session_df_{kind}.csv").drop(
            columns=["wall_t", "fps"]
        )
        second = pd.read_csv(again / "info" / f"tiny_t0_s1_session_df_{kind}.csv").drop(
            columns=["wall_t", "fps"]
        )
        pd.testing.assert_frame_equal(first, second)
