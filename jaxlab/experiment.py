"""Experiment -> Trial control, in SLM Lab's words. Builds env and algorithm, drives the engine and
hands each call's checkpoint rows to io. Nothing numeric happens here."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from jaxlab import algos, envs
from jaxlab.engine import Engine, Plan, rows_to_numpy
from jaxlab.io import log as run_log
from jaxlab.io.paths import RunPaths
from jaxlab.io.progress import Progress
from jaxlab.io.session_df import SessionFrames

SECONDS_PER_CALL = 1.0  # target work per compiled call: fewer host round trips, still a live progress bar
DEV_MAX_FRAME = 20_000


@dataclass
class TrialResult:
    paths: RunPaths
    frames: SessionFrames
    compile_seconds: float
    train_seconds: float
    total_frames: int  # per session


def dev_spec(spec: dict) -> dict:
    """`dev` mode: one session, a short run, every checkpoint row logged."""
    spec = {**spec, "meta": {**spec["meta"], "max_session": 1}}
    spec["env"] = {**spec["env"], "max_frame": min(spec["env"]["max_frame"], DEV_MAX_FRAME)}
    return spec


class Trial:
    """One set of hyperparameters, `meta.max_session` sessions in one compiled program."""

    def __init__(self, spec: dict, paths: RunPaths, trial: int = 0, verbose: bool = False, progress: bool = True):
        self.spec, self.paths, self.index = spec, paths, trial
        self.verbose, self.show_progress = verbose, progress
        self.log = run_log.get()

    def run(self) -> TrialResult:
        spec, meta = self.spec, self.spec["meta"]
        num_sessions = meta["max_session"]
        algorithm = spec["agent"]["algorithm"]
        env = envs.make(spec["env"], algorithm["gamma"])
        algo = algos.get(algorithm["name"])
        static, hp = algo.configure(spec, env, spec["env"]["max_frame"])
        plan = Plan.plan(static.frames_per_update, meta["log_frequency"], spec["env"]["max_frame"])
        self.log.info(
            f"trial {self.index}: {algorithm['name']} on {spec['env']['name']}, {num_sessions} sessions x "
            f"{spec['env']['num_envs']} envs, {plan.num_checkpoints} checkpoints to {plan.total_frames:,} frames"
        )
        if plan.frames_per_checkpoint != meta["log_frequency"]:
            self.log.info(
                f"log_frequency {meta['log_frequency']} rounded to {plan.frames_per_checkpoint} frames "
                f"({plan.updates_per_checkpoint} updates of {plan.frames_per_update} frames)"
            )

        engine = Engine(algo, static, plan)
        state = engine.init(meta["random_seed"], num_sessions, hp)
        engine.compile(state)
        self.log.info(f"compiled in {engine.compile_seconds:.1f} s (one program for {num_sessions} sessions)")

        frames = SessionFrames(num_sessions, algo.EXTRA_COLUMNS)
        progress = Progress(plan.total_frames, num_sessions, enabled=self.show_progress)
        start = time.perf_counter()
        try:
            self._train(engine, state, plan, frames, progress, start)
        finally:
            progress.close()
            self._write_frames(frames)
        train_seconds = time.perf_counter() - start
        self._summarise(frames, train_seconds, num_sessions)
        return TrialResult(self.paths, frames, engine.compile_seconds, train_seconds, plan.total_frames)

    def _train(self, engine: Engine, state, plan: Plan, frames: SessionFrames, progress: Progress, start: float):
        """Dispatch the next call before writing the last one's rows, so files are written while the
        device trains. The checkpoints per call adapt to about SECONDS_PER_CALL of work."""
        done, chunk, pending = 0, 1, None
        last_end = 0.0
        while done < plan.num_checkpoints or pending is not None:
            dispatched = None
            if done < plan.num_checkpoints:
                count = min(chunk, plan.num_checkpoints - done, engine.max_chunk)
                state, rows = engine.run_chunk(state, count)
                dispatched, done = (rows, count), done + count
            if pending is not None:
                rows, count = pending
                host_rows = rows_to_numpy(rows, count)  # blocks until that call is done
                end = time.perf_counter() - start
                # Rows inside one call finish evenly spaced between the call's start and end.
                wall_t = last_end + (end - last_end) * np.arange(1, count + 1) / count
                seconds_per_checkpoint = (end - last_end) / count
                last_end = end
                chunk = int(np.clip(round(SECONDS_PER_CALL / max(seconds_per_checkpoint, 1e-6)), 1, engine.max_chunk))
                frames.append(host_rows, wall_t)
                self._write_frames(frames)
                self._report(host_rows, wall_t, progress)
            pending = dispatched

    def _report(self, rows: dict, wall_t: np.ndarray, progress: Progress) -> None:
        progress.update(int(rows["frame"][-1].max()), rows["total_reward_ma"][-1])
        if self.verbose:
            for c in range(len(wall_t)):
                values = {k: rows[k][c, 0] for k in ("frame", "total_reward", "total_reward_ma", "loss", "lr")}
                self.log.info("  ".join(f"{k} {float(v):.4g}" for k, v in values.items()))

    def _write_frames(self, frames: SessionFrames) -> None:
        for session in range(len(frames.rows)):
            frames.write(session, self.paths.session_df(self.index, session, "train"))

    def _summarise(self, frames: SessionFrames, seconds: float, num_sessions: int) -> None:
        finals = [frames.rows[s][-1] for s in range(num_sessions) if frames.rows[s]]
        if not finals:
            return
        ma = np.array([row["total_reward_ma"] for row in finals])
        total = sum(row["frame"] for row in finals)
        self.log.info(
            f"trial {self.index} done: {total:,} frames in {seconds:.1f} s ({total / seconds:,.0f} frames/s over "
            f"{num_sessions} sessions); total_reward_ma per session {np.round(ma, 2).tolist()}"
        )


def run(spec: dict, mode: str = "train", data_dir: str = "data", progress: bool = True) -> TrialResult:
    """Run a spec in `train` or `dev` mode and write its folder under `data_dir`."""
    verbose = mode == "dev"
    if verbose:
        spec = dev_spec(spec)
    paths = RunPaths.create(spec["name"], data_dir)
    log = run_log.setup(paths.log_file(0), verbose=verbose)
    log.info(f"{mode} run of {spec['name']}: output in {paths.root}")
    return Trial(spec, paths, 0, verbose=verbose, progress=progress).run()
