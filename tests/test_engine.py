"""The compiled core on tiny runs: the plan, rows independent of how checkpoints split into calls,
determinism, many sessions, the moving average and best policy, eval apart from training, and programs
free of the LAPACK calls that deadlock XLA:CPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxlab.plan import Plan
from tests.helpers import built_from, run_rows
from tests.specs import tiny_spec


def test_plan_rounds_log_frequency_to_whole_updates_or_writes_rows_inside_longer_ones():
    plan = Plan.plan(frames_per_update=512, log_frequency=1000, max_frame=10_000)
    assert plan.frames_per_checkpoint == 1024 and plan.num_checkpoints == 10 and plan.total_frames >= 10_000
    inside = Plan.plan(512, 100, 1000, num_envs=4)
    assert (inside.updates_per_checkpoint, inside.rows_per_checkpoint, inside.num_checkpoints) == (1, 6, 2)


def test_rows_inside_long_updates_fall_where_slm_lab_writes_them():
    """Updates of 256 frames (64 vector steps of 4 envs). log_frequency 100: a row at each vector step within
    4 frames past a multiple of 100 (SLM Lab's frame % log_frequency < num_envs); log_frequency 4: a row every
    vector step. A row's total_reward is the returns as they stood at its frame: the same in both runs, and at
    an update's end the same as a run with one row per update reads there."""
    raw = tiny_spec(env={"max_frame": 1024}, meta={"log_frequency": 100, "rigorous_eval": 0})
    raw["agent"]["algorithm"]["time_horizon"] = 64
    hundred = run_rows(raw)
    every = run_rows({**raw, "meta": {**raw["meta"], "log_frequency": 4}})
    per_update = run_rows({**raw, "meta": {**raw["meta"], "log_frequency": 256}})
    np.testing.assert_array_equal(hundred["frame"][:, 0], np.arange(1, 11) * 100)
    np.testing.assert_array_equal(every["frame"][:, 0], np.arange(1, 257) * 4)
    np.testing.assert_array_equal(per_update["frame"][:, 0], np.arange(1, 5) * 256)
    at = lambda rows, frames: rows["total_reward"][np.isin(rows["frame"][:, 0], frames)]  # noqa: E731
    np.testing.assert_array_equal(at(hundred, np.arange(1, 11) * 100), at(every, np.arange(1, 11) * 100))
    np.testing.assert_array_equal(at(per_update, np.arange(1, 5) * 256), at(every, np.arange(1, 5) * 256))
    assert np.isfinite(hundred["total_reward"][-1]).all() and len(set(every["total_reward"][:, 0])) > 10
    ma = pd.Series(hundred["total_reward"][:, 0]).rolling(100, min_periods=1).mean()
    np.testing.assert_allclose(hundred["total_reward_ma"][:, 0], ma, rtol=1e-6)


def test_rows_do_not_depend_on_how_checkpoints_are_split_into_calls():
    raw = tiny_spec()  # 64 frames per update, 2 updates per checkpoint, 16 checkpoints
    whole = run_rows(raw, [16])
    split = run_rows(raw, [1, 5, 10])
    for key in whole:
        np.testing.assert_array_equal(whole[key], split[key], err_msg=key)
    np.testing.assert_array_equal(whole["frame"][:, 0], np.arange(1, 17) * 128)


def test_same_seed_same_numbers_and_sessions_differ():
    first, second = run_rows(tiny_spec(), [16]), run_rows(tiny_spec(), [16])
    np.testing.assert_array_equal(first["loss"], second["loss"])
    np.testing.assert_array_equal(first["total_reward"], second["total_reward"])
    assert not np.allclose(first["loss"][:, 0], first["loss"][:, 1])
    other_seed = run_rows(tiny_spec(meta={"random_seed": 1}), [16])
    assert not np.allclose(first["loss"], other_seed["loss"])


def test_sixteen_sessions_in_one_program():
    rows = run_rows(tiny_spec(meta={"max_session": 16}, env={"max_frame": 256}), [2])
    assert rows["frame"].shape == (2, 16)
    assert len({round(float(x), 6) for x in rows["loss"][-1]}) == 16


def test_moving_average_and_best_tracking():
    rows = run_rows(tiny_spec(), [16])
    reward = pd.DataFrame(rows["total_reward"])
    expected = reward.rolling(100, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(rows["total_reward_ma"], expected, rtol=1e-5)
    best = np.maximum.accumulate(np.nan_to_num(rows["total_reward_ma"], nan=-np.inf), axis=0)
    improved = np.diff(np.vstack([np.full((1, 2), -np.inf), best]), axis=0) > 0
    np.testing.assert_array_equal(rows["best_improved"], improved)


def test_eval_does_not_change_training():
    """Eval runs on its own env copies with its own random stream: the train rows are those of a run without
    eval, to the bit, while the eval rows are other episodes."""
    with_eval = run_rows(tiny_spec(meta={"rigorous_eval": 4, "eval_frequency": 256}))
    without = run_rows(tiny_spec(meta={"rigorous_eval": 0}))
    for column in ("frame", "total_reward", "loss", "epi", "opt_step", "entropy"):
        np.testing.assert_array_equal(with_eval[column], without[column], err_msg=column)
    assert with_eval["evaluated"].sum() == 2 * 8 and np.isfinite(with_eval["eval_total_reward"][1::2]).all()
    assert not np.allclose(with_eval["eval_total_reward"][1::2], with_eval["total_reward"][1::2])


def test_decaying_schedules_train_inside_the_compiled_update():
    raw = tiny_spec(env={"max_frame": 256})
    raw["agent"]["algorithm"]["clip_eps_spec"] = {
        "name": "linear_decay",
        "start_val": 0.2,
        "end_val": 0.05,
        "start_step": 0,
        "end_step": 256,
    }
    raw["agent"]["algorithm"]["entropy_coef_spec"] = {
        "name": "rate_decay",
        "start_val": 0.01,
        "end_val": 0.001,
        "start_step": 0,
        "end_step": 256,
    }
    rows = run_rows(raw, [2])
    # A row reports the value its checkpoint's last update used: as SLM Lab trains, at the frame one vector
    # step (4 frames) before its rollout filled.
    np.testing.assert_allclose(
        rows["clip_eps"][:, 0], [0.2 - 0.15 * 124 / 256, 0.2 - 0.15 * 252 / 256], rtol=1e-5
    )


def test_continuous_shared_conv_variants_build_and_step():
    for change in (
        {"env": {"name": "Pendulum-v1", "normalize_obs": True, "normalize_reward": True}},
        {"agent_net": {"shared": True}},
        {
            "env": {"name": "Breakout-MinAtar"},
            "agent_net": {"type": "ConvNet", "conv_hid_layers": [[4, 3, 1]]},
        },
    ):
        # No eval: this is about the networks and env wrappers, and eval loops triple the compile time.
        raw = tiny_spec(env={"max_frame": 256, **change.get("env", {})}, meta={"rigorous_eval": 0})
        raw["agent"]["net"].update(change.get("agent_net", {}))
        rows = run_rows(raw, [2])
        # 4 updates of 64 frames, each 2 epochs x 2 minibatches of 32
        assert rows["opt_step"][-1, 0] == 16 and len(set(rows["loss"][:, 0].tolist())) == 2, change


def test_compiled_programs_have_no_custom_calls():
    """LAPACK custom calls (e.g. the QR of an orthogonal init), batched over sessions, can deadlock
    XLA:CPU's thread pool; the engine's programs must be plain XLA ops."""
    raw = tiny_spec()
    raw["agent"]["net"]["init_fn"] = "orthogonal_"
    _, built = built_from(raw)
    engine = built.engine
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    hps = jax.tree.map(lambda x: jnp.broadcast_to(x, (2, *jnp.shape(x))), built.hp)
    init_hlo = jax.jit(jax.vmap(engine._init_session)).lower(keys, hps).as_text()
    state = jax.eval_shape(jax.vmap(engine._init_session), keys, hps)
    chunk_hlo = jax.jit(engine._run_chunk).lower(state, jnp.int32(0), jnp.int32(1)).as_text()
    assert "custom_call" not in init_hlo and "custom_call" not in chunk_hlo
