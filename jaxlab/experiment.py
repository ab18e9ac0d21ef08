"""Experiment -> Trial control, in SLM Lab's words. Builds env and algorithm, drives the engine and
hands each call's checkpoint rows to io. Nothing numeric happens here."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Self

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxlab import algos, envs
from jaxlab import spec as spec_module
from jaxlab.engine import (
    DIVERGED,
    RUNNING,
    STOPPED,
    Engine,
    Plan,
    PolicySnapshot,
    SessionState,
    device_memory_bytes,
    rows_to_numpy,
    session_hparams,
    session_keys,
    session_sharding,
    snapshot,
    stop_sessions,
)
from jaxlab.interrupt import Interrupt, SaveRecord
from jaxlab.io import analysis, checkpoints, graphs, specs, train_state
from jaxlab.io import log as run_log
from jaxlab.io.files import zip_folder
from jaxlab.io.paths import FolderInUse, RunPaths, release
from jaxlab.io.progress import Progress
from jaxlab.io.session_df import SessionFrames
from jaxlab.io.tensorboard import SessionWriters
from jaxlab.spec import INT_MAX, SpecError, sample_trials

SECONDS_PER_CALL = 1.0  # target work per compiled call: fewer host round trips, still a live progress bar
BEST_WRITE_SECONDS = 30.0  # ckpt-best files are rewritten at most this often (and when the trial ends)
# CSVs are rewritten after every call unless that costs more than 1/CSV_WRITE_SHARE of the time between
# writes (thousands of sessions): then as often as that budget allows, and always when the trial ends.
CSV_WRITE_SHARE = 10
DEV_MAX_FRAME = 20_000
PNG_START_SECONDS = 60.0  # past this the run ends without PNGs rather than wait on a stuck browser
TRAIN_STATE_SECONDS = 60.0  # the whole training state is saved for resume at most this often (and on SIGINT/SIGTERM)


@dataclass
class TrialResult:
    """What a program's run of one or more trials leaves (train mode: one trial)."""

    paths: RunPaths
    frames: SessionFrames  # every session of the program, trial by trial
    trial_metrics: dict[int, dict]  # trial index -> trial scalar metrics
    compile_seconds: float
    train_seconds: float
    total_frames: int  # per session
    interrupted: int | None = None  # the signal that stopped it early
    all_diverged: bool = False  # every session went non-finite

    @property
    def metrics(self) -> dict:
        """The first trial's scalar metrics: in train mode, the trial's."""
        return self.trial_metrics[min(self.trial_metrics)] if self.trial_metrics else {}


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


class SuccessiveHalving:
    """ASHA's rule, applied to the trials of vmapped programs as they pass each rung together: at
    `grace_period * reduction_factor**k` frames a trial continues only if its total_reward_ma is at or above
    the (1 - 1/reduction_factor) quantile of all values recorded at that rung, across programs."""

    def __init__(self, grace_period: int, reduction_factor: int):
        self.grace_period, self.reduction_factor = grace_period, reduction_factor
        self.recorded: dict[int, list[float]] = {}  # rung (frames) -> values of the trials that reached it

    def rungs(self, plan: Plan) -> dict[int, int]:
        """{checkpoints done: rung frames} for the rungs before the last checkpoint."""
        rungs, frames = {}, self.grace_period
        while (done := -(-frames // plan.frames_per_checkpoint)) < plan.num_checkpoints:
            rungs[done] = frames
            frames *= self.reduction_factor
        return rungs

    def cut(self, rung: int, values: dict[int, float]) -> list[int]:
        """Record the trials' values at `rung`; return those to stop."""
        recorded = self.recorded.setdefault(rung, [])
        recorded.extend(values.values())
        cutoff = np.nanpercentile(recorded, 100 * (1 - 1 / self.reduction_factor))
        return [trial for trial, value in values.items() if not value >= cutoff]  # NaN stops too


class TrialGroup:
    """Trials that share one compiled program, each with `meta.max_session` sessions, vmapped together:
    the one trial of train mode, or search trials that differ only in float hyperparameters (which live in
    each session's state). Session g of the program is session g % S of the group's trial g // S."""

    def __init__(
        self, specs: dict[int, dict], built: Built, hps: list[Any], paths: RunPaths, png_renderer: PngRenderer,
        interrupt: Interrupt, record: SaveRecord, verbose: bool = False, progress: bool = True, samples: dict[int, dict] | None = None,
        halving: SuccessiveHalving | None = None, report: Callable[[int, dict[int, float]], None] | None = None,
        resumable: bool = False, resume: bool = False,
    ):
        self.specs, self.built, self.paths, self.png_renderer = specs, built, paths, png_renderer
        self.interrupt, self.record = interrupt, record
        self.trials = sorted(specs)
        self.spec = specs[self.trials[0]]  # the group's shared settings
        self.sessions_per_trial = self.spec["meta"]["max_session"]
        self.num_sessions = len(self.trials) * self.sessions_per_trial
        self.hps = session_hparams(hps, self.sessions_per_trial)
        self.samples, self.halving, self.report, self.resume = samples or {}, halving, report, resume
        # Train mode keeps the training state for exact resume; an interrupted search keeps its files only.
        self.state_dir = paths.train_state_dir(self.trials[0]) if resumable else None
        self.verbose, self.show_progress = verbose, progress
        self.log = run_log.get()

    def _trial_session(self, g: int) -> tuple[int, int]:
        return self.trials[g // self.sessions_per_trial], g % self.sessions_per_trial

    def _prefix(self, g: int) -> str:
        return self.paths.session_prefix(*self._trial_session(g))

    def run(self) -> TrialResult:
        meta, built = self.spec["meta"], self.built
        self.algo, plan, engine = built.algo, built.plan, built.engine
        self.plan = plan
        self._log_plan(plan)
        seed = meta["random_seed"]
        # Every trial's sessions use the trial's own keys, so its trial spec run alone gives the same numbers.
        self.keys = jnp.tile(session_keys(seed, self.sessions_per_trial), (len(self.trials), 1))
        with ThreadPoolExecutor(2) as pool:  # the random baseline and the sessions' init run while we compile
            baseline = pool.submit(envs.random_baseline, self.spec["env"], seed)
            unit = self.sessions_per_trial if len(self.trials) > 1 else 1  # a search trial's sessions stay together
            batch = self.batch = engine.sessions_per_program(self.num_sessions, built.hp, unit)
            shapes = engine.state_shapes(batch, built.hp)  # one trace of init, which the pool's init reuses
            first_state = None if self.resume else pool.submit(self._init, 0)
            if not engine.compiled:
                engine.compile(shapes)
            if self.resume:
                self.state, saved = train_state.load(self.state_dir, shapes)
            else:
                self.state, saved = first_state.result(), {"first": 0, "done": 0, "wall_t": 0.0}
            self.first = saved["first"]
            self.random_baseline = baseline.result()
        batches = "" if batch == self.num_sessions else f", run in {self.num_sessions // batch} batches of {batch} to fit device memory"
        trials = f"{len(self.trials)} trials x {_sessions(self.sessions_per_trial)}" if len(self.trials) > 1 else _sessions(batch)
        devices = session_sharding(batch).mesh.size
        on = f" sharded over {devices} {jax.devices()[0].platform.upper()} devices" if devices > 1 else ""
        self.log.info(
            f"compiled in {engine.compile_seconds:.1f} s (one program for {trials}{on}{batches}); "
            f"random-policy baseline {self.random_baseline:.2f}"
        )
        for trial in self.trials:
            specs.write_trial_spec(self.paths, trial, self.specs[trial], self._runtime_meta(trial))

        self.train_frames = SessionFrames(self.num_sessions, self.algo.EXTRA_COLUMNS)
        self.eval_frames = (
            SessionFrames(self.num_sessions, self.algo.EXTRA_COLUMNS) if meta["rigorous_eval"] else self.train_frames
        )
        self.status = np.full(self.num_sessions, RUNNING)
        if self.resume:
            self._reload(saved)
        session_dirs = [self.paths.tensorboard_dir(*self._trial_session(g)) for g in range(self.num_sessions)]
        self.tensorboard = SessionWriters(session_dirs, fresh=self.resume)
        if self.resume:  # the event files hold exactly the CSVs' rows: no step twice
            self._add_tensorboard_rows(0, self.train_frames.rows, self.eval_frames.rows)
        self.best_host, self.best_unsaved, self.best_saved_at = None, set(), 0.0
        self.frames_written_at, self.frames_write_seconds, self.frames_run = 0.0, 0.0, 0
        progress = Progress(plan.total_frames * self.num_sessions, self.num_sessions, enabled=self.show_progress)
        started_now = time.perf_counter()
        start = started_now - saved["wall_t"]  # a resumed run's wall_t goes on from where it stopped
        self.state_saved_at, self.interrupted, finished = started_now, None, False
        try:
            for first in range(self.first, self.num_sessions, batch):
                self.first = first
                if self.state is None:  # the next batch of sessions
                    self.state = self._init(self.first)
                self._train(engine, plan, progress, start, saved["done"])
                saved["done"] = 0
                if self.interrupt.signal is not None:
                    self.interrupted = self.interrupt.signal
                    break
                self._save_batch()
            finished = self.interrupted is None
        finally:
            progress.close()
            train_seconds = time.perf_counter() - started_now  # this run's part: frames/s of what it ran
            # Quick and most wanted first (a second signal may stop the rest): rows and weights, then the
            # training state, then metrics and graphs.
            self.tensorboard.close()
            self._write_frames()
            if self.state is not None:  # interrupted mid-batch
                self._save_weights()
            if self.interrupted is not None and self.state_dir:
                self._save_train_state(time.perf_counter() - start)
            self.state = None
            trial_metrics = self._finish()
            self.record.outputs_written = True
            if finished and self.state_dir:
                train_state.remove(self.state_dir)  # nothing left to resume
        self._summarise(train_seconds, trial_metrics)
        return TrialResult(
            self.paths, self.train_frames, trial_metrics, engine.compile_seconds, train_seconds, plan.total_frames,
            self.interrupted, bool((self.status == DIVERGED).all()),
        )

    def _reload(self, saved: dict) -> None:
        """A resumed run: its rows up to the saved state, from its CSVs."""
        for g in range(self.num_sessions):
            trial, s = self._trial_session(g)
            self.train_frames.read(g, self.paths.session_df(trial, s, "train"), saved["train_rows"][g])
            if self.eval_frames is not self.train_frames:
                self.eval_frames.read(g, self.paths.session_df(trial, s, "eval"), saved["eval_rows"][g])
        self.status[:] = saved["status"]
        self.log.info(
            f"resumed from {self.state_dir} at checkpoint {saved['done']} of {self.plan.num_checkpoints}"
            f" (sessions {self.first} .. {self.first + self.batch - 1})"
        )

    def _save_train_state(self, wall_t: float) -> None:
        """Everything needed to go on exactly from here: the sessions' state, with the rows written so far."""
        self._write_frames()
        self._save_best()
        done = int(np.asarray(self.state.rows_written).max())
        status = self.status.copy()
        status[self.first : self.first + self.batch] = np.asarray(self.state.status)
        train_state.save(self.state_dir, self.state, {
            "first": self.first, "done": done, "frame": done * self.plan.frames_per_checkpoint, "wall_t": wall_t,
            "status": status.tolist(),
            "train_rows": [len(rows) for rows in self.train_frames.rows],
            "eval_rows": [len(rows) for rows in self.eval_frames.rows],
        })
        self.state_saved_at = time.perf_counter()

    def _init(self, first: int) -> SessionState:
        """The batch of sessions first .. first + batch - 1."""
        window = slice(first, first + self.batch)
        return self.built.engine.init_sessions(self.keys[window], jax.tree.map(lambda x: x[window], self.hps))

    def _runtime_meta(self, trial: int) -> dict:
        meta = self.specs[trial]["meta"]
        return {
            "experiment_ts": self.paths.ts,
            "trial": trial,
            "session_keys": np.asarray(session_keys(meta["random_seed"], self.sessions_per_trial)).tolist(),
            "git_sha": specs.git_sha(),
            "versions": specs.versions(),
            "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
            "random_baseline": self.random_baseline,
            "compile_seconds": round(self.built.engine.compile_seconds, 3),
            **self.built.env.spaces(),
            **({"search_sample": self.samples[trial]} if trial in self.samples else {}),
        }

    def _log_plan(self, plan: Plan) -> None:
        spec, meta = self.spec, self.spec["meta"]
        trials = ", ".join(map(str, self.trials))
        self.log.info(
            f"trial{'s' if len(self.trials) > 1 else ''} {trials}: {spec['agent']['algorithm']['name']} on "
            f"{spec['env']['name']}, {_sessions(self.sessions_per_trial)} x {spec['env']['num_envs']} envs, "
            f"{plan.num_checkpoints} checkpoints to {plan.total_frames:,} frames"
        )
        if plan.frames_per_checkpoint != meta["log_frequency"]:
            self.log.info(
                f"log_frequency {meta['log_frequency']} rounded to {plan.frames_per_checkpoint} frames "
                f"({plan.updates_per_checkpoint} updates of {plan.frames_per_update} frames)"
            )
        if meta["rigorous_eval"] and plan.frames_per_eval != meta["eval_frequency"]:
            self.log.info(f"eval_frequency {meta['eval_frequency']} rounded to {plan.frames_per_eval} frames")

    def _train(self, engine: Engine, plan: Plan, progress: Progress, start: float, done: int) -> None:
        """Checkpoints `done` .. the last. Dispatch the next call before handling the last one's rows, so files
        are written while the device trains. The checkpoints per call adapt to about SECONDS_PER_CALL of work.
        The loop waits for the last call before going on at each successive-halving rung (the cut needs the
        rung's rows) and every TRAIN_STATE_SECONDS (the saved state must match the rows written), and stops
        dispatching on SIGINT/SIGTERM."""
        rungs = self.halving.rungs(plan) if self.halving else {}
        interrupt = self.interrupt
        chunk, pending, last_end = 1, None, time.perf_counter() - start
        try:
            while (done < plan.num_checkpoints and interrupt.signal is None) or pending is not None:
                dispatched = None
                save_state = self.state_dir and time.perf_counter() - self.state_saved_at >= TRAIN_STATE_SECONDS
                waits = pending is not None and (pending[3] in rungs or save_state)
                if done < plan.num_checkpoints and interrupt.signal is None and not waits:
                    next_rung = min((r for r in rungs if r > done), default=plan.num_checkpoints)
                    count = min(chunk, next_rung - done, engine.max_chunk)
                    self.state, rows, best = engine.run_chunk(self.state, done, count)
                    dispatched, done = (rows, best, count, done + count), done + count
                if pending is not None:
                    end = self._handle(*pending[:3], last_end, start, progress)
                    if pending[3] in rungs:
                        self._halve(rungs[pending[3]])
                    if save_state and dispatched is None and done < plan.num_checkpoints:
                        self._save_train_state(time.perf_counter() - start)
                    chunk = int(np.clip(round(SECONDS_PER_CALL * pending[2] / max(end - last_end, 1e-6)), 1, engine.max_chunk))
                    last_end = end
                pending = dispatched
        finally:
            if pending is not None:  # interrupted: keep the rows of the call that was under way
                self._handle(*pending[:3], last_end, start, progress)

    def _halve(self, rung: int) -> None:
        """Successive halving at `rung` frames: stop the running trials of this batch below the cutoff."""
        per_trial = self.sessions_per_trial
        values = {}
        for g in range(self.first, self.first + self.batch, per_trial):
            if (self.status[g : g + per_trial] == RUNNING).any():
                rows = [self.eval_frames.rows[s][-1] for s in range(g, g + per_trial) if self.eval_frames.rows[s]]
                values[self._trial_session(g)[0]] = float(np.nanmean([row["total_reward_ma"] for row in rows])) if rows else np.nan
        stopped = self.halving.cut(rung, values)
        if stopped:
            sessions = [g for g in range(self.first, self.first + self.batch) if self._trial_session(g)[0] in stopped]
            self.state = stop_sessions(self.state, [g - self.first for g in sessions])
            self.status[sessions] = STOPPED
        kept = sorted(set(values) - set(stopped))
        self.log.info(f"successive halving at {rung:,} frames: {_trials_in_words(kept)} continue, {_trials_in_words(stopped)} stop")
        if self.report is not None:  # a scheduler outside may end the program here: first save all it has
            self._write_frames()
            self._save_weights()
            self.report(rung, {t: values[t] for t in kept})

    def _handle(self, rows, best, count: int, last_end: float, start: float, progress: Progress) -> float:
        """Write one finished call's rows (CSV, TensorBoard, ckpt-best weights); returns when it ended."""
        host = rows_to_numpy(rows, count)  # blocks until that call is done
        self.frames_run += count * self.batch * self.plan.frames_per_checkpoint
        end = time.perf_counter() - start
        # Rows inside one call finish evenly spaced between the call's start and end.
        wall_t = last_end + (end - last_end) * np.arange(1, count + 1) / count
        written = host["written"]  # [C, B]: stopped and diverged sessions write no rows
        new_train = self.train_frames.append(host, wall_t, self.first, written)
        new_eval = new_train
        if self.eval_frames is not self.train_frames:
            eval_rows = {**host, "total_reward": host["eval_total_reward"], "total_reward_ma": host["eval_total_reward_ma"]}
            new_eval = self.eval_frames.append(eval_rows, wall_t, self.first, written & host["evaluated"])
        self._add_tensorboard_rows(self.first, new_train, new_eval)
        self._note_divergence(host)
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

    def _note_divergence(self, host: dict) -> None:
        """A warning line for each session that went non-finite in this call; it keeps its last finite policy."""
        diverged = np.flatnonzero((host["status"][-1] == DIVERGED) & (self.status[self.first : self.first + self.batch] == RUNNING))
        for s in diverged:
            g = self.first + s
            self.status[g] = DIVERGED
            rows = self.train_frames.rows[g]
            after = f"after frame {rows[-1]['frame']:,}" if rows else "before its first checkpoint"
            others = (self.status == RUNNING).sum()
            rest = f"the other {others} session{'s' if others != 1 else ''} train on" if others else "no session is left training"
            self.log.warning(
                f"session {self._prefix(g)} diverged (non-finite loss or params) {after}: it is frozen with its"
                f" last finite policy; {rest}"
            )

    def _add_tensorboard_rows(self, first: int, train_rows: list[list[dict]], eval_rows: list[list[dict]]) -> None:
        """TensorBoard scalars of sessions first, first + 1, ... from their new train and eval rows."""
        for s, session_rows in enumerate(train_rows):
            self.tensorboard.add_rows(first + s, "train", session_rows)
            if self.eval_frames is not self.train_frames:  # otherwise the eval scalars are the train ones
                self.tensorboard.add_rows(first + s, "eval", eval_rows[s])

    def _save_best(self) -> None:
        """Write the ckpt-best files of the sessions whose best improved since they were last written."""
        for g in sorted(self.best_unsaved):
            self._save_networks(self.best_host, g, best_checkpoint=True)
        self.best_unsaved.clear()

    def _save_networks(self, policy: PolicySnapshot, g: int, best_checkpoint: bool) -> None:
        """Write one session's networks from a host copy of its batch's policies."""
        policy = jax.tree.map(lambda x: np.asarray(x[g - self.first]), policy)
        checkpoints.save_networks(
            self.paths, *self._trial_session(g), self.algo.nets(policy.params), policy.obs_stats, best_checkpoint
        )

    def _write_frames(self) -> None:
        with self.record.lock:  # a second signal waits for these files, so that its words are true
            for g in range(self.num_sessions):
                trial, s = self._trial_session(g)
                self.train_frames.write(g, self.paths.session_df(trial, s, "train"))
                self.eval_frames.write(g, self.paths.session_df(trial, s, "eval"))
            self.record.rows_frame = max((rows[-1]["frame"] for rows in self.train_frames.rows if rows), default=0)

    def _save_weights(self) -> None:
        """The ckpt-best and final (current) weights of the batch of sessions under way."""
        self._save_best()
        final = jax.device_get(snapshot(self.state.train))
        for g in range(self.first, self.first + self.batch):
            self._save_networks(final, g, best_checkpoint=False)
        self.record.final_weights = True

    def _save_batch(self) -> None:
        """The weights of the batch of sessions that just trained; the next batch starts afresh."""
        self._save_weights()
        self.state = None

    def _finish(self) -> dict[int, dict]:
        """The metrics and graphs of the trials, when they end normally or not."""
        per_trial = self.sessions_per_trial
        figures, trial_metrics = {}, {}
        for i, trial in enumerate(self.trials):
            diverged = np.flatnonzero(self.status[i * per_trial : (i + 1) * per_trial] == DIVERGED).tolist()
            ended = {"diverged_sessions": diverged} if diverged else {}
            if self.interrupted is not None:
                ended["interrupted_at_frame"] = self.record.rows_frame
            if ended:  # the trial spec records them, so retro-analysis counts them too
                specs.write_trial_spec(self.paths, trial, self.specs[trial], {**self._runtime_meta(trial), **ended})
            trial_metrics[trial], trial_figures = analysis.analyze_trial(
                self.paths, trial, per_trial, self.random_baseline, len(diverged)
            )
            figures.update(trial_figures)
        analysis.write_figures(self.paths, figures, self.png_renderer.ready())
        return trial_metrics

    def _summarise(self, seconds: float, trial_metrics: dict[int, dict]) -> None:
        """The end of the trials in the log: each session's train total_reward_ma, the trial's eval score, and
        the frames this run trained (a resumed run: since it resumed) over the time it took."""
        ma = np.array([rows[-1]["total_reward_ma"] if rows else np.nan for rows in self.train_frames.rows])
        for i, trial in enumerate(self.trials):
            per_session = np.round(ma[i * self.sessions_per_trial : (i + 1) * self.sessions_per_trial], 2).tolist()
            how = "done" if self.interrupted is None else f"stopped at frame {self.record.rows_frame:,}"
            scores = trial_metrics.get(trial, {})
            score = scores.get("total_reward_ma")
            evaluated = f"; trial total_reward_ma {score:.2f}, strength {scores['strength']:.2f}" if score is not None else ""
            self.log.info(f"trial {trial} {how}: train total_reward_ma per session {per_session}{evaluated}")
        total = self.frames_run  # what the program ran (stopped sessions included), this time
        self.log.info(
            f"{total:,} frames in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} frames/s over"
            f" {_sessions(self.num_sessions)})"
        )


def _sessions(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


def _trials_in_words(trials: list[int]) -> str:
    if not trials:
        return "no trials"
    return f"trial{'s' if len(trials) > 1 else ''} {', '.join(map(str, sorted(trials)))}"


class PngRenderer:
    """kaleido's browser for the run's PNGs, started in the background (~2-5 s, overlapping compile and
    training) and closed when the run ends."""

    def __init__(self, root: str):
        self.root, self._pool, self._ready = root, ThreadPoolExecutor(1), None
        self._started = self._pool.submit(graphs.start_png_renderer)

    def ready(self) -> bool:
        """Wait for the browser; False (with one warning line, once) when PNGs cannot be made."""
        if self._ready is None:
            self._ready, problem = self._wait()
            if problem:
                run_log.get().warning(
                    f"{problem}: graphs written as HTML only; install chromium and run "
                    f"python -m jaxlab.retro {self.root} for the PNGs"
                )
        return self._ready

    def _wait(self) -> tuple[bool, str]:
        try:
            if self._started.result(timeout=PNG_START_SECONDS):
                return True, ""
            return False, "no Chrome/Chromium found"
        except TimeoutError:
            return False, f"the browser for PNGs did not start within {PNG_START_SECONDS:.0f} s"
        except Exception as error:  # noqa: BLE001 — a broken browser must not cost the rest of the folder
            return False, f"the browser for PNGs failed to start ({' '.join(str(error).split())[:120]})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        started = self._ready if self._ready is not None else self._wait()[0]
        if started:
            graphs.stop_png_renderer()
        self._pool.shutdown(wait=False)  # a browser stuck starting must not hold the run open


def start_run(spec: dict, mode: str, data_dir: str, log_trials: list[int]) -> RunPaths:
    """Claim the run folder; its text log(s) and `{name}_spec.json`."""
    paths = RunPaths.create(spec["name"], data_dir)
    log = run_log.setup([paths.log_file(t) for t in log_trials], verbose=mode == "dev")
    log.info(f"{mode} run of {spec['name']}: output in {paths.root}")
    specs.write_spec(paths, spec)
    return paths


def resume_command(paths: RunPaths) -> str:
    return f"python -m jaxlab.run train@{paths.root}"


def run(spec: dict, mode: str = "train", data_dir: str = "data", progress: bool = True) -> TrialResult:
    """Run a spec in `train` or `dev` mode and write its folder under `data_dir`."""
    verbose = mode == "dev"
    built = build_engine(dev_spec(spec) if verbose else spec)
    if verbose:
        spec, built = cap_dev_frames(dev_spec(spec), built)
    check_sizes(built, spec["meta"]["max_session"])  # before the run folder exists
    paths = start_run(spec, mode, data_dir, [0])
    record = SaveRecord(paths.root, built.plan.total_frames, resume_command(paths), paths.train_state_dir(0))
    try:
        with Interrupt(record) as interrupt, PngRenderer(paths.root) as renderer:
            result = TrialGroup(
                {0: spec}, built, [built.hp], paths, renderer, interrupt, record, verbose=verbose, progress=progress,
                resumable=True,
            ).run()
        return _end(paths, result)
    finally:
        release(paths.root)


def cap_dev_frames(spec: dict, built: Built) -> tuple[dict, Built]:
    """`dev` runs at most DEV_MAX_FRAME frames: the whole checkpoints that fit (at least one)."""
    plan = built.plan
    if plan.total_frames <= DEV_MAX_FRAME:
        return spec, built
    frames = max(1, DEV_MAX_FRAME // plan.frames_per_checkpoint) * plan.frames_per_checkpoint
    spec = {**spec, "env": {**spec["env"], "max_frame": frames}}
    return spec, build_engine(spec)


def resume(folder: str, spec_file: str | None = None, overrides: list[str] = (), progress: bool = True) -> TrialResult:
    """`train@data/<run>`: go on with an interrupted train-mode run, in its folder, from the spec it started
    with (its `{name}_spec.json`, or `spec_file`), with `overrides`. That must be the spec the run started
    with, except for a higher env.max_frame (train further). The rows it adds equal those of a run that was
    never interrupted (same device, same max_frame)."""
    try:
        paths = RunPaths.existing(folder, lock=True)
    except ValueError as error:
        raise SpecError(f"train@{folder}: {error}") from None
    except FolderInUse as error:
        raise SpecError(f"train@{folder}: {error} — wait for it to end") from None
    try:
        started = stored_spec(paths)
        given = spec_module.load(spec_file or paths.spec(), overrides)
        spec = _check_resumable(paths, given, started)
        built = build_engine(spec)
        check_sizes(built, spec["meta"]["max_session"])
        log = run_log.setup([paths.log_file(0)])
        log.info(f"resuming {paths.root}")
        if spec["env"]["max_frame"] != started["env"]["max_frame"]:
            log.info(f"training further: env.max_frame raised from {started['env']['max_frame']:,} to {spec['env']['max_frame']:,}")
            specs.write_spec(paths, spec)
        record = SaveRecord(paths.root, built.plan.total_frames, resume_command(paths), paths.train_state_dir(0))
        with Interrupt(record) as interrupt, PngRenderer(paths.root) as renderer:
            result = TrialGroup(
                {0: spec}, built, [built.hp], paths, renderer, interrupt, record, progress=progress, resumable=True,
                resume=True,
            ).run()
        return _end(paths, result)
    finally:
        release(paths.root)


def stored_spec(paths: RunPaths) -> dict:
    """The spec a run folder's run started with (`{name}_spec.json`: overrides applied)."""
    if not os.path.isfile(paths.spec()):
        raise SpecError(f"train@{paths.root}: no {os.path.basename(paths.spec())} — it is not a jaxlab run folder")
    return spec_module.load(paths.spec())


def _check_resumable(paths: RunPaths, given: dict, started: dict) -> dict:
    """The spec to resume with: `given`, when it equals `started` but for a raised env.max_frame."""
    wanted, was = given["env"]["max_frame"], started["env"]["max_frame"]
    same_frames = {**given, "env": {**given["env"], "max_frame": was}}
    if difference := spec_module.first_difference(same_frames, started):
        raise SpecError(
            f"train@{paths.root}: {difference} — resume with the spec the run started with (leave out the spec file"
            f" to use its {os.path.basename(paths.spec())}); only env.max_frame may be raised, to train further"
        )
    if wanted < was:
        raise SpecError(
            f"train@{paths.root}: env.max_frame = {wanted:,} is below the run's {was:,} — resume can only train"
            " further (raise env.max_frame, or leave it)"
        )
    if not train_state.exists(paths.train_state_dir(0)):
        raise SpecError(
            f"train@{paths.root}: no saved training state (model/{paths.trial_prefix(0)}_train_state/) — only a train"
            " run stopped by Ctrl-C or SIGTERM can be resumed; a finished run has nothing left to train"
        )
    return given


class Interrupted(Exception):
    """A run stopped by SIGINT/SIGTERM, after writing everything it had."""

    def __init__(self, root: str, signum: int, resume_command: str | None):
        super().__init__(root)
        self.root, self.signum, self.resume_command = root, signum, resume_command


class AllDiverged(Exception):
    """Every session of the run went non-finite; its folder holds their rows up to then."""

    def __init__(self, root: str):
        super().__init__(root)
        self.root = root


def _end(paths: RunPaths, result: TrialResult) -> TrialResult:
    """Zip a finished run; an interrupted one stays unzipped, ready to resume."""
    if result.interrupted is not None:
        raise Interrupted(paths.root, result.interrupted, resume_command(paths))
    run_log.get().info(f"zipped to {zip_folder(paths.root)}")
    if result.all_diverged:
        raise AllDiverged(paths.root)
    return result


@dataclass
class ExperimentResult:
    paths: RunPaths
    experiment_df: pd.DataFrame  # best strength first
    programs: list[TrialResult]  # one per compiled program (local backend)


def group_trials(builts: list[Built]) -> list[list[int]]:
    """Trial indices grouped by program: trials whose algorithm settings, plan and eval compile the same
    (they differ only in float hyperparameters) share one."""
    groups: list[list[int]] = []
    for trial, built in enumerate(builts):
        for group in groups:
            if same_program(builts[group[0]], built):
                group.append(trial)
                break
        else:
            groups.append([trial])
    return groups


def same_program(a: Built, b: Built) -> bool:
    shapes = lambda hp: jax.tree.map(jnp.shape, hp)
    return (
        a.algo is b.algo and a.engine.static == b.engine.static and a.plan == b.plan
        and a.engine.eval_env == b.engine.eval_env and shapes(a.hp) == shapes(b.hp)
    )


@dataclass
class SearchPlan:
    """A search's trials: their specs and samples, built, and grouped into programs."""

    specs: dict[int, dict]
    samples: dict[int, dict]
    builts: list[Built]
    groups: list[list[int]]
    halving: SuccessiveHalving | None

    @classmethod
    def draw(cls, spec: dict) -> SearchPlan:
        """Draw the trials, build and group them, and check their sizes: all before anything is written."""
        if "search" not in spec:
            raise SpecError("search mode needs a search block in the spec — e.g. search: {agent.algorithm.gamma__uniform: [0.95, 0.999]}")
        drawn = sample_trials(spec)
        builts = [build_engine(trial_spec) for trial_spec, _ in drawn]
        groups = group_trials(builts)
        for group in groups:
            check_sizes(builts[group[0]], len(group) * spec["meta"]["max_session"])
        scheduler = spec["meta"]["search_scheduler"]
        return cls(
            {t: trial_spec for t, (trial_spec, _) in enumerate(drawn)}, {t: sample for t, (_, sample) in enumerate(drawn)},
            builts, groups, SuccessiveHalving(**scheduler) if scheduler["grace_period"] else None,
        )

    def group(
        self, index: int, paths: RunPaths, renderer: PngRenderer, interrupt: Interrupt, record: SaveRecord,
        progress: bool, report=None,
    ) -> TrialGroup:
        trials = self.groups[index]
        return TrialGroup(
            {t: self.specs[t] for t in trials}, self.builts[trials[0]], [self.builts[t].hp for t in trials], paths,
            renderer, interrupt, record, progress=progress, samples={t: self.samples[t] for t in trials},
            halving=self.halving, report=report,
        )


def search(spec: dict, data_dir: str = "data", progress: bool = True, keep: int | None = None) -> ExperimentResult:
    """`search` mode: `meta.max_trial` trials drawn from the spec's search block, one compiled program per
    group of trials that differ only in floats; experiment_df and multi-trial graphs at the end."""
    plan = SearchPlan.draw(spec)
    if spec["meta"]["search_backend"] == "ray":
        from jaxlab import ray_search

        ray_search.check_installed()  # before anything is written
    paths = start_run(spec, "search", data_dir, list(plan.specs))
    try:
        return _search(spec, plan, paths, progress, keep)
    finally:
        release(paths.root)


def _search(spec: dict, plan: SearchPlan, paths: RunPaths, progress: bool, keep: int | None) -> ExperimentResult:
    log = run_log.get()
    sizes = ", ".join(str(len(group)) for group in plan.groups)
    log.info(
        f"search: {len(plan.specs)} trials in {len(plan.groups)} compiled program{'s' if len(plan.groups) > 1 else ''}"
        f" (trials per program: {sizes}) on the {spec['meta']['search_backend']} backend"
    )
    record = SaveRecord(paths.root, max(built.plan.total_frames for built in plan.builts))
    with Interrupt(record) as interrupt, PngRenderer(paths.root) as renderer:
        programs = []
        if spec["meta"]["search_backend"] == "ray":
            from jaxlab import ray_search

            ray_search.run_groups(spec, plan, paths, renderer)  # the results stay in Ray's workers, the files here
        else:
            for i in range(len(plan.groups)):
                programs.append(plan.group(i, paths, renderer, interrupt, record, progress).run())
                if programs[-1].interrupted is not None:
                    break
        analysed = {t: sample for t, sample in plan.samples.items() if os.path.exists(paths.trial_metrics(t, scalar=False))}
        interrupted = {t for program in programs if program.interrupted is not None for t in program.trial_metrics}
        experiment_df, figures = analysis.analyze_experiment(paths, analysed, interrupted)
        analysis.write_figures(paths, figures, renderer.ready())
    if programs and programs[-1].interrupted is not None:
        raise Interrupted(paths.root, programs[-1].interrupted, None)
    best = experiment_df.iloc[0]
    log.info(f"best trial {int(best['trial'])}: strength {best['strength']:.2f}, total_reward_ma {best['total_reward_ma']:.2f}")
    if keep is not None:
        checkpoints.keep_trials(paths, experiment_df["trial"].tolist()[:keep])
    log.info(f"zipped to {zip_folder(paths.root)}")
    return ExperimentResult(paths, experiment_df, programs)
