"""The engine and PPO end to end on tiny runs: determinism, chunking, many sessions, a reward floor."""

import os

import numpy as np
import pandas as pd
import yaml

from jaxlab import experiment, run, spec
from jaxlab.engine import Plan, rows_to_numpy
from jaxlab.io.session_df import COLUMNS
from tests.conftest import tiny_spec


def build(raw):
    validated = spec.validate(raw)
    built = experiment.build_engine(validated)
    return validated, built.engine, built.hp


def run_rows(raw, chunks):
    """Train with the given checkpoints per call; return the rows stacked [C, S]."""
    validated, engine, hp = build(raw)
    state = engine.init(validated["meta"]["random_seed"], validated["meta"]["max_session"], hp)
    out = []
    for count in chunks:
        state, rows, _ = engine.run_chunk(state, sum(len(o["frame"]) for o in out), count)
        out.append(rows_to_numpy(rows, count))
    return {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def test_plan_rounds_log_frequency_to_whole_updates():
    plan = Plan.plan(frames_per_update=512, log_frequency=1000, max_frame=10_000)
    assert plan.frames_per_checkpoint == 1024 and plan.num_checkpoints == 10 and plan.total_frames >= 10_000
    assert Plan.plan(512, 100, 1000).updates_per_checkpoint == 1


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


def test_ppo_learns_cartpole_above_a_floor():
    raw = tiny_spec(
        env={"max_frame": 40_000},
        meta={"max_session": 2, "log_frequency": 2048},
    )
    raw["agent"]["algorithm"].update(time_horizon=128, minibatch_size=128, training_epoch=4)
    raw["agent"]["net"]["hid_layers"] = [64, 64]
    rows = run_rows(raw, [20])
    # A random policy averages ~22 on CartPole; PPO gets well past 100 within 40k frames.
    assert rows["total_reward"][-1].min() > 100, rows["total_reward"][-1]


def test_decaying_schedules_train_inside_the_compiled_update():
    raw = tiny_spec(env={"max_frame": 256})
    raw["agent"]["algorithm"]["clip_eps_spec"] = {
        "name": "linear_decay", "start_val": 0.2, "end_val": 0.05, "start_step": 0, "end_step": 256
    }
    raw["agent"]["algorithm"]["entropy_coef_spec"] = {
        "name": "rate_decay", "start_val": 0.01, "end_val": 0.001, "start_step": 0, "end_step": 256
    }
    rows = run_rows(raw, [2])
    # A row reports the value its checkpoint's last update used: at the frames seen after its rollout.
    np.testing.assert_allclose(rows["clip_eps"][:, 0], [0.2 - 0.15 * 128 / 256, 0.05], rtol=1e-5)


def test_continuous_shared_conv_variants_build_and_step():
    for change in (
        {"env": {"name": "Pendulum-v1", "normalize_obs": True, "normalize_reward": True}},
        {"agent_net": {"shared": True}},
        {"env": {"name": "Breakout-MinAtar"}, "agent_net": {"type": "ConvNet", "conv_hid_layers": [[4, 3, 1]]}},
    ):
        # No eval: this is about the networks and env wrappers, and eval loops triple the compile time.
        raw = tiny_spec(env={"max_frame": 256, **change.get("env", {})}, meta={"rigorous_eval": 0})
        raw["agent"]["net"].update(change.get("agent_net", {}))
        rows = run_rows(raw, [2])
        assert np.isfinite(rows["loss"]).all(), change


def test_dev_mode_writes_session_csvs_with_contract_columns(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec()))
    assert run.main([str(path), "dev", "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    df = pd.read_csv(folder / "info" / "tiny_t0_s0_session_df_train.csv")
    assert tuple(df.columns[: len(COLUMNS)]) == COLUMNS and {"entropy", "clip_eps"} <= set(df.columns)
    assert len(df) == 16 and (np.diff(df["frame"]) > 0).all()
    np.testing.assert_allclose(df["fps"], df["frame"] / df["wall_t"], rtol=1e-6)
    assert not (folder / "info" / "tiny_t0_s1_session_df_train.csv").exists()  # dev: one session
    log = (folder / "log" / "tiny_t0.log").read_text()
    assert "compiled in" in log and "total_reward_ma per session" in log


def test_experiment_dev_spec_caps_frames():
    validated = spec.validate(tiny_spec(env={"max_frame": 10**7}))
    dev = experiment.dev_spec(validated)
    assert dev["env"]["max_frame"] == experiment.DEV_MAX_FRAME and dev["meta"]["max_session"] == 1


def test_compiled_programs_have_no_custom_calls():
    """LAPACK custom calls (e.g. the QR of an orthogonal init), batched over sessions, can deadlock
    XLA:CPU's thread pool; the engine's programs must be plain XLA ops."""
    import jax
    import jax.numpy as jnp

    raw = tiny_spec()
    raw["agent"]["net"]["init_fn"] = "orthogonal_"
    validated, engine, hp = build(raw)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    hps = jax.tree.map(lambda x: jnp.broadcast_to(x, (2, *jnp.shape(x))), hp)
    init_hlo = jax.jit(jax.vmap(engine._init_session)).lower(keys, hps).as_text()
    state = jax.eval_shape(jax.vmap(engine._init_session), keys, hps)
    chunk_hlo = jax.jit(engine._run_chunk).lower(state, jnp.int32(0), jnp.int32(1)).as_text()
    assert "custom_call" not in init_hlo and "custom_call" not in chunk_hlo


def test_sessions_run_in_batches_when_the_device_memory_is_short(tmp_path, monkeypatch):
    """With a device limit that holds half the program, 4 sessions run as 2 batches of 2, one after the
    other, and each session's rows match a run of all 4 at once."""
    from jaxlab import engine as engine_module

    raw = tiny_spec(meta={"max_session": 4, "rigorous_eval": 0}, env={"max_frame": 512})
    validated = spec.validate(raw)
    whole = experiment.run(validated, "train", str(tmp_path / "whole"), progress=False)
    built = experiment.build_engine(validated)
    built.engine.compile(built.engine.state_shapes(4, built.hp))
    needed = built.engine.program_bytes()
    monkeypatch.setattr(engine_module, "device_memory_bytes", lambda: int(needed * 0.6 / engine_module.MEMORY_SHARE))
    assert experiment.build_engine(validated).engine.sessions_per_program(4, built.hp) == 2
    batched = experiment.run(validated, "train", str(tmp_path / "batched"), progress=False)
    for s in range(4):
        a, b = pd.DataFrame(whole.frames.rows[s]), pd.DataFrame(batched.frames.rows[s])
        for column in ("frame", "total_reward", "epi", "opt_step"):
            np.testing.assert_array_equal(a[column], b[column], err_msg=f"session {s} {column}")
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4, err_msg=f"session {s}")
    assert sorted(os.listdir(f"{batched.paths.root}/model")) == sorted(os.listdir(f"{whole.paths.root}/model"))
