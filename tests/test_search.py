"""Search mode: the search block, trials vmapped in one program per shape group, successive halving,
experiment_df, --keep, and a search trial reproduced by its trial spec alone."""

import importlib.util
import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from jaxlab import experiment, run, spec
from jaxlab.engine import Engine
from jaxlab.search import sample_trials
from tests.helpers import interrupt, wait_for_rows
from tests.io.test_output import CHECKER
from tests.specs import tiny_spec

FLOAT_SEARCH = {
    "agent.algorithm.gamma__uniform": [0.9, 0.999],
    "agent.net.optim_spec.lr__loguniform": [3e-4, 3e-3],
}


def search_spec(search: dict, trials: int, **meta) -> dict:
    raw = tiny_spec(
        meta={"max_trial": trials, "max_session": 2, "log_frequency": 128, "eval_frequency": 128, **meta}
    )
    return {**raw, "name": "tinysearch", "search": search}


def float_search_spec(**meta) -> dict:
    """8 float-only trials x 2 sessions, with successive halving at 512 and 1024 frames."""
    return search_spec(FLOAT_SEARCH, 8, search_scheduler={"grace_period": 512, "reduction_factor": 2}, **meta)


@pytest.fixture(scope="module")
def float_search(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    path = tmp / "search.yaml"
    path.write_text(yaml.safe_dump(float_search_spec()))
    compiles = []
    original = Engine.compile
    Engine.compile = lambda self, state: (compiles.append(1), original(self, state))[1]
    try:
        assert run.main([str(path), "search", "--data-dir", str(tmp / "data"), "--no-progress"]) == 0
    finally:
        Engine.compile = original
    (folder,) = [p for p in (tmp / "data").iterdir() if p.is_dir()]
    return folder, len(compiles)


def test_float_only_trials_compile_one_program(float_search):
    folder, compiles = float_search
    assert compiles == 1
    assert "search: 8 trials in 1 compiled program" in (folder / "log" / "tinysearch_t0.log").read_text()


def test_experiment_df_has_every_trial_best_first(float_search):
    folder, _ = float_search
    df = pd.read_csv(folder / "info" / "tinysearch_experiment_df.csv")
    assert sorted(df["trial"]) == list(range(8))
    assert list(df.columns[:3]) == ["trial", "agent.algorithm.gamma", "agent.net.optim_spec.lr"]
    assert df["strength"].is_monotonic_decreasing and df["finished"].all()
    pd.testing.assert_frame_equal(df, pd.read_csv(folder / "tinysearch_experiment_df.csv"))
    for _, row in df.iterrows():  # each trial spec holds its sample, filled in
        trial_spec = json.loads((folder / f"tinysearch_t{int(row['trial'])}_spec.json").read_text())
        assert trial_spec["agent"]["algorithm"]["gamma"] == row["agent.algorithm.gamma"]
        assert (
            trial_spec["meta"]["search_sample"]["agent.net.optim_spec.lr"] == row["agent.net.optim_spec.lr"]
        )
        assert "search" not in trial_spec


def test_search_folder_passes_the_contract_checker(float_search):
    if not os.path.exists(CHECKER):
        pytest.skip("shared/tools/check_contract.py is not beside this checkout")
    proc = subprocess.run(
        [sys.executable, CHECKER, str(float_search[0]), "--search"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "contract: 0 problems" in proc.stdout, proc.stdout


def test_successive_halving_stops_half_the_trials_at_each_rung(float_search):
    folder, _ = float_search
    last_frames = {
        t: pd.read_csv(folder / "info" / f"tinysearch_t{t}_s0_session_df_train.csv")["frame"].iloc[-1]
        for t in range(8)
    }
    # Rungs at 512 and 1024 frames: 4 trials stop at 512, 2 at 1024, 2 run to the end (2048).
    assert sorted(last_frames.values()) == [512] * 4 + [1024] * 2 + [2048] * 2
    log = (folder / "log" / "tinysearch_t0.log").read_text()
    assert "successive halving at 512 frames" in log and "successive halving at 1,024 frames" in log


def test_a_search_trial_reruns_alone_with_the_same_numbers(float_search, tmp_path):
    folder, _ = float_search
    best = int(pd.read_csv(folder / "info" / "tinysearch_experiment_df.csv")["trial"].iloc[0])
    trial_spec = folder / f"tinysearch_t{best}_spec.json"
    assert run.main([str(trial_spec), "--data-dir", str(tmp_path), "--no-progress"]) == 0
    (again,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for kind in ("train", "eval"):
        searched = pd.read_csv(folder / "info" / f"tinysearch_t{best}_s1_session_df_{kind}.csv").drop(
            columns=["wall_t", "fps"]
        )
        alone = pd.read_csv(again / "info" / f"tinysearch_t0_s1_session_df_{kind}.csv").drop(
            columns=["wall_t", "fps"]
        )
        pd.testing.assert_frame_equal(searched, alone, rtol=1e-4)


def test_ray_backend_runs_the_same_search(float_search, tmp_path):
    """On a local Ray instance (loopback only): the same experiment_df, columns and numbers."""
    if importlib.util.find_spec("ray") is None:  # not imported here: jaxlab.ray_search sets Ray up first
        pytest.skip("Ray is an optional extra: pip install 'jaxlab[ray]'")
    result = experiment.search(
        spec.validate(float_search_spec(search_backend="ray")), str(tmp_path), progress=False
    )
    local = pd.read_csv(float_search[0] / "info" / "tinysearch_experiment_df.csv")
    on_ray = pd.read_csv(result.paths.root + "/info/tinysearch_experiment_df.csv")
    assert list(on_ray.columns) == list(local.columns)
    pd.testing.assert_frame_equal(on_ray, local, rtol=1e-4)
    if os.path.exists(CHECKER):
        proc = subprocess.run(
            [sys.executable, CHECKER, result.paths.root, "--search"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "contract: 0 problems" in proc.stdout, proc.stdout


def test_shape_keys_compile_one_program_per_shape_group(tmp_path):
    raw = search_spec({"agent.net.hid_layers__choice": [[16], [8, 8]], **FLOAT_SEARCH}, 4, max_session=1)
    validated = spec.validate(raw)
    shapes = [tuple(s["agent"]["net"]["hid_layers"]) for s, _ in sample_trials(validated)]
    assert len(set(shapes)) == 2  # the seed draws both shapes
    result = experiment.search(validated, str(tmp_path), progress=False, keep=1)
    assert len(result.programs) == 2
    for program in result.programs:  # each program's trials share one shape
        assert len({shapes[t] for t in program.trial_metrics}) == 1
    assert sorted(t for program in result.programs for t in program.trial_metrics) == [0, 1, 2, 3]
    # --keep 1: model files of the best trial only
    best = int(result.experiment_df["trial"].iloc[0])
    models = os.listdir(result.paths.root + "/model")
    assert models and all(name.startswith(f"tinysearch_t{best}_") for name in models)


def test_sampling_is_seeded_and_recorded():
    validated = spec.validate(
        search_spec(
            {
                "agent.algorithm.lam__uniform": [0.8, 0.9],
                "env.num_envs__qrandint": [2, 8, 2],
                "agent.algorithm.training_epoch__randint": [1, 4],
            },
            6,
        )
    )
    first, second = sample_trials(validated), sample_trials(validated)
    assert [s for _, s in first] == [s for _, s in second]
    for trial_spec, sample in first:
        assert 0.8 <= sample["agent.algorithm.lam"] <= 0.9
        assert (
            sample["env.num_envs"] in (2, 4, 6, 8) and trial_spec["env"]["num_envs"] == sample["env.num_envs"]
        )
        assert sample["agent.algorithm.training_epoch"] in (1, 2, 3)
    reseeded = spec.validate(
        {**search_spec(validated["search"], 6), "meta": {**validated["meta"], "random_seed": 1}}
    )
    assert [s for _, s in sample_trials(reseeded)] != [s for _, s in first]


@pytest.mark.parametrize(
    "search, message",
    [
        (
            {"agent.algorithm.gama__uniform": [0.9, 0.99]},
            "agent.algorithm.gama is not a spec key — did you mean gamma?",
        ),
        ({"agent.algorithm.gamma__unifrom": [0.9, 0.99]}, "unknown search function"),
        ({"agent.algorithm.gamma__uniform": [0.99, 0.9]}, "bad range"),
        ({"agent.net.optim_spec.lr__loguniform": [0, 0.1]}, "bad range"),
        ({"agent.algorithm.training_epoch__randint": [1.5, 4]}, "bad range"),
        ({"meta.max_session__choice": [1, 2]}, "only agent.* and env.* keys"),
        ({"agent.net__choice": [1, 2]}, "is a section"),
        ({"agent.net.hid_layers__choice": []}, "a non-empty list"),
        ({}, "search is empty"),
        (
            {"agent.algorithm.gamma__uniform": [0.9, 0.99], "agent.algorithm.gamma__choice": [0.9]},
            "searched twice",
        ),
    ],
)
def test_bad_search_blocks_fail_with_one_line(search, message):
    with pytest.raises(spec.SpecError, match=message.replace("*", r"\*").replace("?", r"\?")):
        spec.validate(search_spec(search, 2))


def test_absurd_trial_counts_are_refused_before_drawing():
    with pytest.raises(spec.SpecError, match=r"meta\.max_trial = 2,000,000,000: .* at most 10,000"):
        sample_trials(spec.validate(search_spec(FLOAT_SEARCH, 2_000_000_000)))


def test_grace_period_must_leave_three_rows():
    with pytest.raises(
        spec.SpecError, match="grace_period = 256 frames would stop trials before they have 3"
    ):
        spec.validate(search_spec(FLOAT_SEARCH, 2, search_scheduler={"grace_period": 256}))


def test_a_draw_out_of_range_names_the_trial():
    validated = spec.validate(search_spec({"agent.algorithm.gamma__uniform": [0.9, 1.5]}, 4))
    with pytest.raises(
        spec.SpecError, match=r"search: trial \d drew .*agent.algorithm.gamma = .* is out of range"
    ):
        sample_trials(validated)


def test_search_mode_needs_a_search_block(tmp_path, capsys):
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(tiny_spec()))
    assert run.main([str(path), "search", "--data-dir", str(tmp_path / "data")]) == 2
    assert "search mode needs a search block" in capsys.readouterr().err
    assert run.main([str(path), "--keep", "2", "--data-dir", str(tmp_path / "data")]) == 2
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_an_interrupted_search_marks_its_unfinished_trials(tmp_path):

    path = tmp_path / "search.yaml"
    raw = search_spec(FLOAT_SEARCH, 2, log_frequency=1024, rigorous_eval=0)
    path.write_text(yaml.safe_dump({**raw, "env": {**raw["env"], "max_frame": 5_000_000}}))
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaxlab.run",
            str(path),
            "search",
            "--data-dir",
            str(tmp_path / "data"),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_rows(child, tmp_path / "data")
    err = interrupt(child, signum=signal.SIGINT)
    assert child.returncode == 130 and "a search is not resumable" in err, err
    (folder,) = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    df = pd.read_csv(folder / "tinysearch_experiment_df.csv")
    assert sorted(df["trial"]) == [0, 1] and not df["finished"].any()
