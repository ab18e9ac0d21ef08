"""From a spec to a trial's pieces: dev mode's frame cap, the session batches that fit an accelerator's
memory, and which trials share one program."""

import os

import numpy as np
import pandas as pd

from jaxlab import experiment, spec
from jaxlab.build import DEV_MAX_FRAME, build, dev_spec, fit_to_device_memory
from jaxlab.devices import MEMORY_SHARE
from jaxlab.trial import Hooks
from tests.specs import tiny_spec


def test_dev_mode_runs_one_session_at_most_20k_frames_of_whole_checkpoints():
    validated = spec.validate(tiny_spec(env={"max_frame": 500_000}, meta={"log_frequency": 1536}))
    capped, built = dev_spec(validated)
    assert (
        0 < built.plan.total_frames <= DEV_MAX_FRAME and capped["env"]["max_frame"] == built.plan.total_frames
    )
    assert built.plan.total_frames % built.plan.frames_per_checkpoint == 0
    assert capped["meta"]["max_session"] == 1


def test_a_checkpoint_larger_than_the_dev_budget_is_run_once():
    validated = spec.validate(tiny_spec(env={"max_frame": 500_000}, meta={"log_frequency": 40_000}))
    _, built = dev_spec(validated)
    assert built.plan.num_checkpoints == 1


def test_trials_that_differ_in_floats_share_a_program_and_shapes_split_them():
    def with_net(**net) -> dict:
        raw = tiny_spec()
        raw["agent"]["net"].update(net)
        return spec.validate(raw)

    base = build(with_net())
    assert base.same_program(build(with_net(optim_spec={"lr": 3e-3})))
    assert not base.same_program(build(with_net(hid_layers=[32])))


def test_sessions_run_in_batches_when_the_device_memory_is_short(tmp_path):
    """With a device limit that holds half the program, 4 sessions run as 2 batches of 2, one after the
    other, and each session's rows match a run of all 4 at once."""
    validated = spec.validate(tiny_spec(meta={"max_session": 4, "rigorous_eval": 0}, env={"max_frame": 512}))
    whole = experiment.run(validated, "train", str(tmp_path / "whole"), progress=False)
    built = build(validated)
    built.engine.compile(built.engine.state_shapes(4, built.hp))
    limit = int(built.engine.program_bytes() * 0.6 / MEMORY_SHARE)
    assert fit_to_device_memory(build(validated), 4, device_memory=limit) == 2
    hooks = Hooks(device_memory=limit)
    batched = experiment.run(validated, "train", str(tmp_path / "batched"), progress=False, hooks=hooks)
    assert "run in 2 batches of 2" in open(f"{batched.paths.root}/log/tiny_t0.log").read()
    for s in range(4):
        a, b = pd.DataFrame(whole.frames.rows[s]), pd.DataFrame(batched.frames.rows[s])
        for column in ("frame", "total_reward", "epi", "opt_step"):
            np.testing.assert_array_equal(a[column], b[column], err_msg=f"session {s} {column}")
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4, err_msg=f"session {s}")
    assert sorted(os.listdir(f"{batched.paths.root}/model")) == sorted(
        os.listdir(f"{whole.paths.root}/model")
    )
