"""The run folder: every writer, the contract checker on a real tiny run, retro-analysis, reproduction."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from jaxlab import retro, run
from tests.conftest import tiny_spec

CHECKER = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools", "check_contract.py")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """One tiny 2-session PPO run with eval rows, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("run")
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(meta={"max_session": 2, "log_frequency": 128, "eval_frequency": 512})))
    assert run.main([str(path), "--data-dir", str(tmp / "data"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp / "data").iterdir() if p.is_dir()]
    return folder


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
        "body.0.weight": (16, 4), "body.0.bias": (16,), "policy_head.weight": (2, 16), "policy_head.bias": (2,),
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
    session_keys = {"mean_returns", "strengths", "sample_efficiencies", "training_efficiencies", "stabilities",
                    "frames", "opt_steps"}
    for kind in ("train", "eval"):
        metrics = json.loads((run_folder / "info" / f"tiny_t0_s1_session_metrics_{kind}.json").read_text())
        assert set(metrics) == {"scalar", "local"} and set(metrics["local"]) == session_keys
        scalar = json.loads((run_folder / "info" / f"tiny_t0_s1_session_metrics_scalar_{kind}.json").read_text())
        assert metrics["scalar"] == scalar
    local = json.loads((run_folder / "info" / "tiny_t0_s1_session_metrics_eval.json").read_text())["local"]
    assert local["frames"] == eval_df["frame"].tolist()
    np.testing.assert_allclose(local["mean_returns"], eval_df["total_reward"])
    trial = json.loads((run_folder / "info" / "tiny_t0_trial_metrics.json").read_text())
    assert set(trial) == {"scalar", "local"}
    assert set(trial["local"]) == session_keys - {"frames", "opt_steps"} | {"consistencies", "frames", "opt_steps"}
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


def test_retro_rebuilds_the_same_metrics_and_graphs(run_folder, tmp_path):
    info = run_folder / "info"
    written = {p.name: p.read_text() for p in info.glob("*metrics*.json")}
    graph_names = sorted(p.name for p in (run_folder / "graph").iterdir())
    for path in info.glob("*metrics*.json"):
        path.unlink()
    for path in (run_folder / "graph").glob("*.png"):
        path.unlink()
    zip_path = run_folder.parent / f"{run_folder.name}.zip"
    zip_path.write_bytes(b"stale")
    assert retro.main([str(run_folder)]) == 0
    assert {p.name: p.read_text() for p in info.glob("*metrics*.json")} == written
    assert sorted(p.name for p in (run_folder / "graph").iterdir()) == graph_names
    with zipfile.ZipFile(zip_path) as archive:  # the zip is made again from the folder
        assert f"{run_folder.name}/info/tiny_t0_trial_metrics.json" in archive.namelist()


def test_retro_rejects_a_non_run_folder(tmp_path, capsys):
    assert retro.main([str(tmp_path)]) == 2
    assert "is not a jaxlab run folder" in capsys.readouterr().err


def test_trial_spec_reproduces_the_numbers(run_folder, tmp_path):
    assert run.main([str(run_folder / "tiny_t0_spec.json"), "--data-dir", str(tmp_path), "--no-progress"]) == 0
    (again,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for kind in ("train", "eval"):
        first = pd.read_csv(run_folder / "info" / f"tiny_t0_s1_session_df_{kind}.csv").drop(columns=["wall_t", "fps"])
        second = pd.read_csv(again / "info" / f"tiny_t0_s1_session_df_{kind}.csv").drop(columns=["wall_t", "fps"])
        pd.testing.assert_frame_equal(first, second)


def test_enjoy_plays_the_best_session_and_writes_a_gif(run_folder, capsys):
    spec_path = run_folder / "tiny_t0_spec.json"
    assert run.main([str(spec_path), f"enjoy@{spec_path}", "--episodes", "2", "--render"]) == 0
    out = capsys.readouterr().out
    assert "over 2 episodes" in out and "GIF of episode 0" in out
    (gif,) = run_folder.glob("tiny_t0_s*_enjoy.gif")
    from PIL import Image

    assert Image.open(gif).n_frames > 1


def test_enjoy_bad_input_exits_2(run_folder, tmp_path, capsys):
    spec_path = run_folder / "tiny_t0_spec.json"
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**tiny_spec(), "name": "other"}))
    assert run.main([str(other), f"enjoy@{spec_path}"]) == 2
    assert "is a run of 'tiny'" in capsys.readouterr().err
    assert run.main([str(spec_path), f"enjoy@{tmp_path}/nope_t0_spec.json"]) == 2
    assert "give a trial spec of a run" in capsys.readouterr().err
    assert run.main([str(spec_path), f"enjoy@{spec_path}", "--episodes", "0"]) == 2


def test_checkpoint_plays_gymnasium_where_jax_cannot_be_imported(run_folder):
    child = (
        "import sys; sys.modules['jax'] = None\n"
        "from jaxlab.export import load_policy\n"
        "from jaxlab.export.play import play_gymnasium\n"
        f"policy = load_policy({str(run_folder / 'model' / 'tiny_t0_s0_ckpt-best_net_model.pt')!r})\n"
        "returns, _ = play_gymnasium(policy, 'CartPole-v1', 2)\n"
        "print(len(returns), returns.min() >= 8)\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "True"]


def test_enjoy_plays_minatar_in_the_jax_env(tmp_path, capsys):
    path = tmp_path / "mini.yaml"
    raw = tiny_spec(env={"name": "Breakout-MinAtar", "max_frame": 256}, meta={"max_session": 1, "eval_frequency": 128})
    raw["name"] = "mini"
    path.write_text(yaml.safe_dump(raw))
    assert run.main([str(path), "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    spec_path = folder / "mini_t0_spec.json"
    capsys.readouterr()
    assert run.main([str(path), f"enjoy@{spec_path}", "--episodes", "2"]) == 0
    assert "over 2 episodes" in capsys.readouterr().out
    assert run.main([str(path), f"enjoy@{spec_path}", "--render"]) == 2
    assert "--render is not available for Breakout-MinAtar" in capsys.readouterr().err
