"""Experiment -> Trial control, in SLM Lab's words. Builds env and algorithm, drives the engine and
hands each call's checkpoint rows to io. Nothing numeric happens here."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import jax
import numpy as np

from jaxlab import algos, envs
from jaxlab.engine import (
    Engine,
    Plan,
    PolicySnapshot,
    device_memory_bytes,
    rows_to_numpy,
    session_keys,
    snapshot,
)
from jaxlab.io import analysis, checkpoints, graphs, specs
from jaxlab.io import log as run_log
from jaxlab.io.files import zip_folder
from jaxlab.io.paths import RunPaths
from jaxlab.io.progress import Progress
from jaxlab.io.session_df import SessionFrames
from jaxlab.io.tensorboard import SessionWriters
from jaxlab.spec import INT_MAX, SpecError

SECONDS_PER_CALL = 1.0  # target work per compiled call: fewer host round trips, still a live progress bar
BEST_WRITE_SECONDS = 30.0  # ckpt-best files are rewritten at most this often (and when the trial ends)
# CSVs are rewritten after every call unless that costs more than 1/CSV_WRITE_SHARE of the time between
# writes (thousands of sessions): then as often as that budget allows, and always when the trial ends.
CSV_WRITE_SHARE = 10
DEV_MAX_FRAME = 20_000
PNG_START_SECONDS = 60.0  # past this the run ends without PNGs rather than wait on a stuck browser


@dataclass
class TrialResult:
    paths: RunPaths
    frames: SessionFrames
    metrics: dict  # trial scalar metrics
    compile_seconds: float
    train_seconds: float
    total_frames: int  # per session


@dataclass
class Built:
    """One trial's pieces: the env, the algorithm module and its settings, the plan and the engine."""

    env: envs.VecEnv
    algo: ModuleType
    hp: Any
    plan: Plan
    engine: Engine


def build_engine(spec: dict) -> Built:
    """Env, algorithm, plan and engine for a validated spec (nothing compiled yet)."""
    meta, algorithm = spec["meta"], spec["agent"]["algorithm"]
    env = envs.make(spec["env"], algorithm["gamma"])
    algo = algos.get(algorithm["name"])
    static, hp = algo.configure(spec, env, spec["env"]["max_frame"])
    plan = Plan.plan(static.frames_per_update, meta["log_frequency"], spec["env"]["max_frame"], meta["eval_frequency"])
    eval_env = envs.make(spec["env"], num_envs=meta["rigorous_eval"], normalize=False) if meta["rigorous_eval"] else None
    return Built(env, algo, hp, plan, Engine(algo, static, plan, eval_env))


def host_memory_bytes() -> int:
    """RAM the host can still give without swapping: /proc/meminfo's MemAvailable (Linux), else free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_sizes(built: Built, num_sessions: int) -> None:
    """Refuse absurd sizes from shapes alone, before anything is allocated, compiled or written: sessions
    whose state (with one update's observations) would not fit in memory, and frame counts past the int32
    counters. On an accelerator the sessions run in batches that fit (Engine.sessions_per_program), so
    one session must fit in its memory; on CPU all of them share host RAM."""
    limit = device_memory_bytes()
    if limit is None:
        sessions, limit, where = num_sessions, host_memory_bytes(), "of host memory available"
    else:
        sessions, where = 1, f"of {jax.devices()[0].device_kind} memory"
    needed = built.engine.state_bytes(sessions, built.hp)
    if needed > limit:
        raise SpecError(
            f"the training state of {sessions:,} session{'s' if sessions > 1 else ''} would need"
            f" {needed / 2**30:,.1f} GiB but there is {limit / 2**30:,.1f} GiB {where} — lower env.num_envs, agent.net.hid_layers,"
            " agent.memory.max_size, meta.rigorous_eval or meta.max_session"
        )
    if built.plan.total_frames > INT_MAX:
        raise SpecError(
            f"env.max_frame rounds up to {built.plan.total_frames:,} frames per session (whole checkpoints of"
            f" {built.plan.frames_per_checkpoint:,}), past the {INT_MAX:,} that jaxlab's int32 frame counter"
            " holds — lower env.max_frame, meta.log_frequency or env.num_envs"
        )


def dev_spec(spec: dict) -> dict:
    """`dev` mode: one session, a short run, every checkpoint row logged."""
    spec = {**spec, "meta": {**spec["meta"], "max_session": 1}}
    spec["env"] = {**spec["env"], "max_frame": min(spec["env"]["max_frame"], DEV_MAX_FRAME)}
    return spec


class Trial:
    """One set of hyperparameters, `meta.max_session` sessions in one compiled program."""

    def __init__(
        self, spec: dict, built: Built, paths: RunPaths, trial: int = 0, verbose: bool = False, progress: bool = True
    ):
        self.spec, self.built, self.paths, self.index = spec, built, paths, trial
        self.verbose, self.show_progress = verbose, progress
        self.log = run_log.get()
        self.num_sessions = spec["meta"]["max_session"]

    def run(self) -> TrialResult:
        spec, meta, built = self.spec, self.spec["meta"], self.built
        self.algo, plan, engine, env = built.algo, built.plan, built.engine, built.env
        self.plan = plan
        self._log_plan(plan)
        # The PNG browser starts (~2-5 s) while we compile and train; it is waited for only at the end.
        self.png_renderer = ThreadPoolExecutor(1).submit(graphs.start_png_renderer)
        with ThreadPoolExecutor(2) as pool:  # the random baseline and the sessions' init run while we compile
            baseline = pool.submit(envs.random_baseline, spec["env"], meta["random_seed"])
            batch = self.batch = engine.sessions_per_program(self.num_sessions, built.hp)
            first_state = pool.submit(engine.init, meta["random_seed"], batch, built.hp)
            if not engine.compiled:
                engine.compile(engine.state_shapes(batch, built.hp))
            self.state, self.first = first_state.result(), 0
            self.random_baseline = baseline.result()
        batches = "" if batch == self.num_sessions else f", run in {self.num_sessions // batch} batches of {batch} to fit device memory"
        self.log.info(
            f"compiled in {engine.compile_seconds:.1f} s (one program for {batch} sessions{batches}); "
            f"random-policy baseline {self.random_baseline:.2f}"
        )
        self.runtime_meta = {
            "experiment_ts": self.paths.ts,
            "trial": self.index,
            "session_keys": np.asarray(session_keys(meta["random_seed"], self.num_sessions)).tolist(),
            "git_sha": specs.git_sha(),
            "versions": specs.versions(),
            "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
            "random_baseline": self.random_baseline,
            "compile_seconds": round(engine.compile_seconds, 3),
            **env.spaces(),
        }
        specs.write_trial_spec(self.paths, self.index, spec, self.runtime_meta)

        self.train_frames = SessionFrames(self.num_sessions, self.algo.EXTRA_COLUMNS)
        self.eval_frames = (
            SessionFrames(self.num_sessions, self.algo.EXTRA_COLUMNS) if meta["rigorous_eval"] else self.train_frames
        )
        prefixes = [self.paths.session_prefix(self.index, s) for s in range(self.num_sessions)]
        self.tensorboard = SessionWriters(f"{self.paths.root}/log", prefixes)
        self.best_host, self.best_unsaved, self.best_saved_at = None, set(), 0.0
        self.frames_written_at, self.frames_write_seconds = 0.0, 0.0
        progress = Progress(plan.total_frames * self.num_sessions, self.num_sessions, enabled=self.show_progress)
        start = time.perf_counter()
        try:
            for self.first in range(0, self.num_sessions, batch):
                if self.state is None:  # the next batch of sessions
                    self.state = engine.init(meta["random_seed"], batch, built.hp, first=self.first)
                self._train(engine, plan, progress, start)
                self._save_batch()
        finally:
            progress.close()
            train_seconds = time.perf_counter() - start
            trial_metrics = self._finish()
        self._summarise(train_seconds)
        return TrialResult(
            self.paths, self.train_frames, trial_metrics, engine.compile_seconds, train_seconds, plan.total_frames
        )

    def _log_plan(self, plan: Plan) -> None:
        spec, meta = self.spec, self.spec["meta"]
        self.log.info(
            f"trial {self.index}: {spec['agent']['algorithm']['name']} on {spec['env']['name']}, {self.num_sessions} "
            f"sessions x {spec['env']['num_envs']} envs, {plan.num_checkpoints} checkpoints to {plan.total_frames:,} frames"
        )
        if plan.frames_per_checkpoint != meta["log_frequency"]:
            self.log.info(
                f"log_frequency {meta['log_frequency']} rounded to {plan.frames_per_checkpoint} frames "
                f"({plan.updates_per_checkpoint} updates of {plan.frames_per_update} frames)"
            )
        if meta["rigorous_eval"] and plan.frames_per_eval != meta["eval_frequency"]:
            self.log.info(f"eval_frequency {meta['eval_frequency']} rounded to {plan.frames_per_eval} frames")

    def _train(self, engine: Engine, plan: Plan, progress: Progress, start: float) -> None:
        """Dispatch the next call before handling the last one's rows, so files are written while the
        device trains. The checkpoints per call adapt to about SECONDS_PER_CALL of work."""
        done, chunk, pending, last_end = 0, 1, None, time.perf_counter() - start
        try:
            while done < plan.num_checkpoints or pending is not None:
                dispatched = None
                if done < plan.num_checkpoints:
                    count = min(chunk, plan.num_checkpoints - done, engine.max_chunk)
                    self.state, rows, best = engine.run_chunk(self.state, done, count)
                    dispatched, done = (rows, best, count), done + count
                if pending is not None:
                    end = self._handle(*pending, last_end, start, progress)
                    chunk = int(np.clip(round(SECONDS_PER_CALL * pending[2] / max(end - last_end, 1e-6)), 1, engine.max_chunk))
                    last_end = end
                pending = dispatched
        finally:
            if pending is not None:  # interrupted: keep the rows of the call that was under way
                self._handle(*pending, last_end, start, progress)

    def _handle(self, rows, best, count: int, last_end: float, start: float, progress: Progress) -> float:
        """Write one finished call's rows (CSV, TensorBoard, ckpt-best weights); returns when it ended."""
        host = rows_to_numpy(rows, count)  # blocks until that call is done
        end = time.perf_counter() - start
        # Rows inside one call finish evenly spaced between the call's start and end.
        wall_t = last_end + (end - last_end) * np.arange(1, count + 1) / count
        new_train = self.train_frames.append(host, wall_t, self.first)
        new_eval = new_train
        if self.eval_frames is not self.train_frames:
            evaluated = host["evaluated"][:, 0]
            eval_rows = {**host, "total_reward": host["eval_total_reward"], "total_reward_ma": host["eval_total_reward_ma"]}
            new_eval = self.eval_frames.append({k: v[evaluated] for k, v in eval_rows.items()}, wall_t[evaluated], self.first)
        for s, rows in enumerate(new_train):
            self.tensorboard.add_rows(self.first + s, "train", rows)
            if self.eval_frames is not self.train_frames:  # otherwise the eval scalars are the train ones
                self.tensorboard.add_rows(self.first + s, "eval", new_eval[s])
        improved = np.flatnonzero(host["best_improved"].any(axis=0))
        if improved.size:  # the only device-to-host copy of weights during training
            self.best_host = jax.device_get(best)
            self.best_unsaved.update((self.first + improved).tolist())
        if end - self.best_saved_at >= BEST_WRITE_SECONDS:
            self._save_best()
            self.best_saved_at = end
        if end - self.frames_written_at >= CSV_WRITE_SHARE * self.frames_write_seconds:
            self._write_frames()
            self.frames_written_at = time.perf_counter() - start
            self.frames_write_seconds = self.frames_written_at - end
        frame = int(host["frame"][-1].max())  # earlier batches are done; this one is at `frame`
        progress.update(self.first * self.plan.total_frames + self.batch * frame, host["total_reward_ma"][-1])
        if self.verbose:
            for c in range(count):
                values = {k: host[k][c, 0] for k in ("frame", "total_reward", "total_reward_ma", "loss", "lr")}
                self.log.info("  ".join(f"{k} {float(v):.4g}" for k, v in values.items()))
        return end

    def _save_best(self) -> None:
        """Write the ckpt-best files of the sessions whose best improved since they were last written."""
        for s in sorted(self.best_unsaved):
            self._save_networks(self.best_host, s, best_checkpoint=True)
        self.best_unsaved.clear()

    def _save_networks(self, policy: PolicySnapshot, session: int, best_checkpoint: bool) -> None:
        """Write one session's networks from a host copy of its batch's policies."""
        policy = jax.tree.map(lambda x: np.asarray(x[session - self.first]), policy)
        prefix = self.paths.session_prefix(self.index, session)
        checkpoints.save_networks(
            f"{self.paths.root}/model", prefix, self.algo.nets(policy.params), policy.obs_stats, best_checkpoint
        )

    def _write_frames(self) -> None:
        for s in range(self.num_sessions):
            self.train_frames.write(s, self.paths.session_df(self.index, s, "train"))
            self.eval_frames.write(s, self.paths.session_df(self.index, s, "eval"))

    def _save_batch(self) -> None:
        """The ckpt-best and final weights of the batch of sessions that just trained."""
        self._save_best()
        final = jax.device_get(snapshot(self.state.train))
        for s in range(self.first, self.first + self.batch):
            self._save_networks(final, s, best_checkpoint=False)
        self.state = None

    def _finish(self) -> dict:
        """Everything a trial leaves when it ends, normally or not: final weights, metrics, graphs."""
        self.tensorboard.close()
        self._write_frames()
        if self.state is not None:  # interrupted mid-batch
            self._save_batch()
        png = self._png_renderer_ready()
        try:
            if not all(self.train_frames.rows):
                return {}
            return analysis.analyze_trial(self.paths, self.index, self.num_sessions, self.random_baseline, png)
        finally:
            if png:
                graphs.stop_png_renderer()

    def _png_renderer_ready(self) -> bool:
        """Wait for the browser started at set-up; False (with one warning line) when PNGs cannot be made."""
        try:
            if self.png_renderer.result(timeout=PNG_START_SECONDS):
                return True
            problem = "no Chrome/Chromium found"
        except TimeoutError:
            problem = f"the browser for PNGs did not start within {PNG_START_SECONDS:.0f} s"
        except Exception as error:  # noqa: BLE001 — a broken browser must not cost the rest of the folder
            problem = f"the browser for PNGs failed to start ({' '.join(str(error).split())[:120]})"
        self.log.warning(
            f"{problem}: graphs written as HTML only; install chromium and run "
            f"python -m jaxlab.retro {self.paths.root} for the PNGs"
        )
        return False

    def _summarise(self, seconds: float) -> None:
        finals = [rows[-1] for rows in self.train_frames.rows if rows]
        if not finals:
            return
        ma = np.array([row["total_reward_ma"] for row in finals])
        total = sum(row["frame"] for row in finals)
        self.log.info(
            f"trial {self.index} done: {total:,} frames in {seconds:.1f} s ({total / seconds:,.0f} frames/s over "
            f"{self.num_sessions} sessions); total_reward_ma per session {np.round(ma, 2).tolist()}"
        )


def run(spec: dict, mode: str = "train", data_dir: str = "data", progress: bool = True) -> TrialResult:
    """Run a spec in `train` or `dev` mode and write its folder under `data_dir`."""
    verbose = mode == "dev"
    if verbose:
        spec = dev_spec(spec)
    built = build_engine(spec)
    check_sizes(built, spec["meta"]["max_session"])  # before the run folder exists
    paths = RunPaths.create(spec["name"], data_dir)
    log = run_log.setup(paths.log_file(0), verbose=verbose)
    log.info(f"{mode} run of {spec['name']}: output in {paths.root}")
    specs.write_spec(paths, spec)
    result = Trial(spec, built, paths, 0, verbose=verbose, progress=progress).run()
    log.info(f"zipped to {zip_folder(paths.root)}")
    return result
