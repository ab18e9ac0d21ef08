"""The host loop of one compiled program: the trials it runs (the one trial of train mode, or search trials
that differ only in float hyperparameters), their sessions vmapped together. It starts the sessions
(compiling meanwhile), dispatches the compiled calls (each about a second of work) and hands each finished
call's rows to the `Recorder` while the next call runs, cuts trials by successive halving, saves the whole
training state for resume, and stops at a call boundary on SIGINT/SIGTERM (`jaxlab/interrupt.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxlab import envs
from jaxlab.build import Built, fit_to_device_memory
from jaxlab.engine import (
    DIVERGED,
    RUNNING,
    STOPPED,
    SessionState,
    rows_to_numpy,
    session_hparams,
    session_keys,
    snapshot,
    stop_sessions,
)
from jaxlab.halving import SuccessiveHalving, cut_in_words, rung_values
from jaxlab.interrupt import Interrupt, SaveRecord
from jaxlab.io import log as run_log
from jaxlab.io import specs, train_state
from jaxlab.io.paths import RunPaths
from jaxlab.io.progress import Progress
from jaxlab.recorder import Recorder, SessionLayout, import_writers, log_compiled, log_plan

SECONDS_PER_CALL = 1.0  # target work per compiled call: fewer host round trips, still a live progress bar
TRAIN_STATE_SECONDS = (
    60.0  # the whole training state is saved for resume at most this often (and on SIGINT/SIGTERM)
)


@dataclass(frozen=True)
class Hooks:
    """Ways into the loop for tests and tools; the defaults are what a run does."""

    seconds_per_call: float = SECONDS_PER_CALL
    after_call: Callable[[int], None] | None = None  # called with the number of calls handled so far
    session_hparams: Callable[[Any], Any] | None = None  # rewrites the sessions' hparams [S, ...] before init
    device_memory: int | None = None  # bytes to plan the session batches with (default: the device's)


NO_HOOKS = Hooks()


@dataclass
class TrialResult:
    """What a program's run of one or more trials leaves (train mode: one trial)."""

    paths: RunPaths
    frames: Any  # SessionFrames of every session of the program, trial by trial
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
class PendingCall:
    """A dispatched compiled call whose rows are not handled yet."""

    rows: Any  # device arrays [max_chunk, B] per column
    best: Any  # the sessions' best policies when the call ended
    count: int  # checkpoints it covers
    done: int  # checkpoints done when it ends


@dataclass
class TrialOptions:
    """How a program's trials run, besides their specs."""

    verbose: bool = False  # dev mode: every row in the log
    progress: bool = True
    samples: dict[int, dict] = field(default_factory=dict)  # search: each trial's drawn values
    halving: SuccessiveHalving | None = None
    report: Callable[[int, dict[int, float]], None] | None = None  # at each rung: Ray Tune's scheduler
    resumable: bool = False  # keep the training state for `train@` (train mode)
    resume: bool = False  # start from the saved training state
    hooks: Hooks = NO_HOOKS


class TrialGroup:
    """The trials of one compiled program, each with `meta.max_session` sessions, vmapped together."""

    def __init__(
        self,
        specs_by_trial: dict[int, dict],
        built: Built,
        hps: list[Any],
        paths: RunPaths,
        png_renderer: Any,
        interrupt: Interrupt,
        record: SaveRecord,
        options: TrialOptions,
    ):
        self.specs, self.built, self.paths, self.png_renderer = specs_by_trial, built, paths, png_renderer
        self.interrupt, self.record, self.options = interrupt, record, options
        self.spec = specs_by_trial[min(specs_by_trial)]  # the group's shared settings
        self.layout = SessionLayout(tuple(sorted(specs_by_trial)), self.spec["meta"]["max_session"])
        hps = session_hparams(hps, self.layout.sessions_per_trial)
        self.hps = options.hooks.session_hparams(hps) if options.hooks.session_hparams else hps
        # Train mode keeps the training state for exact resume; an interrupted search keeps its files only.
        self.state_dir = paths.train_state_dir(self.layout.trials[0]) if options.resumable else None
        evaluated = bool(self.spec["meta"]["rigorous_eval"])
        self.recorder = Recorder(
            self.layout, paths, built.algo.nets, built.algo.columns, evaluated, record, options.verbose
        )
        self.status = np.full(self.layout.num_sessions, RUNNING)
        self.log = run_log.get()
        self.state: SessionState | None = None
        self.first, self.batch, self.random_baseline = 0, self.layout.num_sessions, float("nan")
        self.frames_run = self.calls = (
            0  # frames the program ran (stopped sessions included) and calls, this run
        )
        self.interrupted: int | None = None
        self.state_saved_at = 0.0

    def run(self) -> TrialResult:
        log_plan(self.spec, self.built.plan, self.layout)
        saved = self._start()
        for trial in self.layout.trials:
            specs.write_trial_spec(self.paths, trial, self.specs[trial], self._meta(trial))
        self.recorder.open(saved if self.options.resume else None)
        if self.options.resume:
            self.status[:] = saved["status"]
            self.log.info(
                f"resumed from {self.state_dir} at checkpoint {saved['done']} of"
                f" {self.built.plan.num_checkpoints}"
                f" (sessions {self.first} .. {self.first + self.batch - 1})"
            )
        total = self.built.plan.total_frames * self.layout.num_sessions
        progress = Progress(total, self.layout.num_sessions, enabled=self.options.progress)
        started_now = time.perf_counter()
        start = started_now - saved["wall_t"]  # a resumed run's wall_t goes on from where it stopped
        self.state_saved_at = started_now
        try:
            for first in range(self.first, self.layout.num_sessions, self.batch):
                self.first = first
                if self.state is None:  # the next batch of sessions
                    self.state = self._init(first)
                self._train(progress, start, saved["done"])
                saved["done"] = 0
                if self.interrupt.signal is not None:
                    self.interrupted = self.interrupt.signal
                    break
                self.recorder.save_weights(jax.device_get(snapshot(self.state.train)), self.first, self.batch)
                self.state = None
        finally:
            progress.close()
            train_seconds = time.perf_counter() - started_now  # this run's part: frames/s of what it ran
            trial_metrics = self._end(start)
        self.recorder.summarise(trial_metrics, self.interrupted is not None, self.frames_run, train_seconds)
        return TrialResult(
            self.paths,
            self.recorder.train_frames,
            trial_metrics,
            self.built.engine.compile_seconds,
            train_seconds,
            self.built.plan.total_frames,
            self.interrupted,
            bool((self.status == DIVERGED).all()),
        )

    def _start(self) -> dict:
        """The sessions' keys and first state, the compiled program and the random baseline; returns the
        progress to go on from (a resumed run's saved one)."""
        engine, hp, per_trial = self.built.engine, self.built.hp, self.layout.sessions_per_trial
        seed = self.spec["meta"]["random_seed"]
        # Every trial's sessions use the trial's own keys, so its trial spec run alone gives the same numbers.
        self.keys = jnp.tile(session_keys(seed, per_trial), (len(self.layout.trials), 1))
        # The random baseline, the sessions' init and the imports that writing needs run while we compile.
        with ThreadPoolExecutor(3) as pool:
            baseline = pool.submit(envs.random_baseline, self.spec["env"], seed)
            pool.submit(import_writers)
            unit = per_trial if len(self.layout.trials) > 1 else 1  # a search trial's sessions stay together
            self.batch = fit_to_device_memory(
                self.built, self.layout.num_sessions, unit, self.options.hooks.device_memory
            )
            shapes = engine.state_shapes(self.batch, hp)  # one trace of init, which the pool's init reuses
            first_state = None if self.options.resume else pool.submit(self._init, 0)
            if not engine.compiled:
                engine.compile(shapes)
            if self.options.resume:
                self.state, saved = train_state.load(self.state_dir, shapes)
            else:
                self.state, saved = first_state.result(), {"first": 0, "done": 0, "wall_t": 0.0}
            self.first = saved["first"]
            self.random_baseline = baseline.result()
        log_compiled(engine.compile_seconds, self.layout, self.batch, self.random_baseline)
        return saved

    def _end(self, start: float) -> dict[int, dict]:
        """What the trials leave, quick and most wanted first (a second signal may stop the rest): rows and
        weights, then the training state, then metrics and graphs."""
        self.recorder.close()
        self.recorder.write_frames()
        if self.state is not None:  # interrupted mid-batch
            self.recorder.save_weights(jax.device_get(snapshot(self.state.train)), self.first, self.batch)
        if self.interrupted is not None and self.state_dir:
            self._save_train_state(time.perf_counter() - start)
        self.state = None
        metas = {trial: self._meta(trial) for trial in self.layout.trials}
        trial_metrics = self.recorder.finish(
            self.specs,
            metas,
            self.status,
            self.random_baseline,
            self.png_renderer.ready(),
            self.interrupted is not None,
        )
        self.record.outputs_written = True
        if self.interrupted is None and self.state_dir:
            train_state.remove(self.state_dir)  # nothing left to resume
        return trial_metrics

    def _train(self, progress: Progress, start: float, done: int) -> None:
        """Checkpoints `done` .. the last. Dispatch the next call before handling the last one's rows, so
        files
        are written while the device trains. The checkpoints per call adapt to about `seconds_per_call` of
        work.
        The loop waits for the last call before going on at each successive-halving rung (the cut needs the
        rung's rows) and every TRAIN_STATE_SECONDS (the saved state must match the rows written), and stops
        dispatching on SIGINT/SIGTERM."""
        plan, engine = self.built.plan, self.built.engine
        rungs = self.options.halving.rungs(plan) if self.options.halving else {}
        chunk, pending, last_end = 1, None, time.perf_counter() - start
        stopping = lambda: self.interrupt.signal is not None  # noqa: E731
        try:
            while (done < plan.num_checkpoints and not stopping()) or pending is not None:
                dispatched = None
                save_state = (
                    self.state_dir and time.perf_counter() - self.state_saved_at >= TRAIN_STATE_SECONDS
                )
                waits = pending is not None and (pending.done in rungs or save_state)
                if done < plan.num_checkpoints and not stopping() and not waits:
                    next_rung = min((r for r in rungs if r > done), default=plan.num_checkpoints)
                    count = min(chunk, next_rung - done, engine.max_chunk)
                    self.state, rows, best = engine.run_chunk(self.state, done, count)
                    dispatched, done = PendingCall(rows, best, count, done + count), done + count
                if pending is not None:
                    end = self._handle(pending, last_end, start, progress)
                    if pending.done in rungs:
                        self._halve(rungs[pending.done])
                    if save_state and dispatched is None and done < plan.num_checkpoints:
                        self._save_train_state(time.perf_counter() - start)
                    per_second = pending.count / max(end - last_end, 1e-6)
                    chunk = int(
                        np.clip(round(self.options.hooks.seconds_per_call * per_second), 1, engine.max_chunk)
                    )
                    last_end = end
                pending = dispatched
        finally:
            if pending is not None:  # interrupted: keep the rows of the call that was under way
                self._handle(pending, last_end, start, progress)

    def _handle(self, pending: PendingCall, last_end: float, start: float, progress: Progress) -> float:
        """Write one finished call's rows (CSV, TensorBoard, ckpt-best weights); returns when it ended."""
        host = rows_to_numpy(pending.rows, pending.count)  # blocks until that call is done
        self.frames_run += pending.count * self.batch * self.built.plan.frames_per_checkpoint
        end = time.perf_counter() - start
        # Checkpoints inside one call finish evenly spaced between the call's start and end.
        ends = last_end + (end - last_end) * np.arange(1, pending.count + 1) / pending.count
        wall_t = ends[host["checkpoint"][:, 0] - (pending.done - pending.count)]
        self.recorder.add(host, wall_t, self.first)
        self._note_divergence(host)
        self.recorder.note_best(pending.best, np.flatnonzero(host["best_improved"].any(axis=0)), self.first)
        self.recorder.keep_up(end, start, self.first)
        frame = int(host["frame"][-1].max())  # earlier batches are done; this one is at `frame`
        progress.update(
            self.first * self.built.plan.total_frames + self.batch * frame, host["total_reward_ma"][-1]
        )
        self.calls += 1
        if self.options.hooks.after_call:
            self.options.hooks.after_call(self.calls)
        return end

    def _note_divergence(self, host: dict) -> None:
        """Mark the sessions that went non-finite in this call (each keeps its last finite policy)."""
        batch = slice(self.first, self.first + self.batch)
        for s in np.flatnonzero((host["status"][-1] == DIVERGED) & (self.status[batch] == RUNNING)):
            self.status[self.first + s] = DIVERGED
            self.recorder.warn_diverged(self.first + s, int((self.status == RUNNING).sum()))

    def _halve(self, rung: int) -> None:
        """Successive halving at `rung` frames: stop the running trials of this batch below the cutoff."""
        batch = range(self.first, self.first + self.batch)
        values = rung_values(self.layout, self.status, self.recorder.eval_frames.rows, batch)
        stopped = self.options.halving.cut(rung, values)
        if stopped:
            sessions = [g for g in batch if self.layout.trial_session(g)[0] in stopped]
            self.state = stop_sessions(self.state, [g - self.first for g in sessions])
            self.status[sessions] = STOPPED
        kept = sorted(set(values) - set(stopped))
        self.log.info(cut_in_words(rung, kept, stopped))
        if (
            self.options.report is not None
        ):  # a scheduler outside may end the program here: first save all it has
            self.recorder.write_frames()
            self.recorder.save_weights(jax.device_get(snapshot(self.state.train)), self.first, self.batch)
            self.options.report(rung, {t: values[t] for t in kept})

    def _save_train_state(self, wall_t: float) -> None:
        """Everything needed to go on exactly from here: the sessions' state, with the rows written so far."""
        self.recorder.write_frames()
        self.recorder.save_best(self.first)
        done = int(np.asarray(self.state.checkpoints).max())
        status = self.status.copy()
        status[self.first : self.first + self.batch] = np.asarray(self.state.status)
        train_state.save(
            self.state_dir,
            self.state,
            {
                "first": self.first,
                "done": done,
                "frame": done * self.built.plan.frames_per_checkpoint,
                "wall_t": wall_t,
                "status": status.tolist(),
                "train_rows": [len(rows) for rows in self.recorder.train_frames.rows],
                "eval_rows": [len(rows) for rows in self.recorder.eval_frames.rows],
            },
        )
        self.state_saved_at = time.perf_counter()

    def _meta(self, trial: int) -> dict:
        sample = self.options.samples.get(trial)
        return runtime_meta(self.paths, self.specs[trial], trial, self.built, self.random_baseline, sample)

    def _init(self, first: int) -> SessionState:
        """The batch of sessions first .. first + batch - 1."""
        window = slice(first, first + self.batch)
        return self.built.engine.init_sessions(self.keys[window], jax.tree.map(lambda x: x[window], self.hps))


def runtime_meta(
    paths: RunPaths, spec: dict, trial: int, built: Built, random_baseline: float, sample: dict | None
) -> dict:
    """What a run adds to a trial spec's meta (docs/output.md): the run, seeds, versions, device, baseline,
    compile time, spaces and networks, and a search trial's sample."""
    meta = spec["meta"]
    return {
        "experiment_ts": paths.ts,
        "trial": trial,
        "session_keys": np.asarray(session_keys(meta["random_seed"], meta["max_session"])).tolist(),
        "git_sha": specs.git_sha(),
        "versions": specs.versions(),
        "device": f"{jax.devices()[0].platform}:{jax.devices()[0].device_kind}",
        "random_baseline": random_baseline,
        "compile_seconds": round(built.engine.compile_seconds, 3),
        **built.description(),
        **({"search_sample": sample} if sample is not None else {}),
    }
