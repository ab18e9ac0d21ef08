"""From the engine's rows to the run folder, for the trials of one compiled program: session CSVs,
TensorBoard, the progress bar, `.pt` weights at their cadence, the trial specs and, when the trials end,
their metrics and graphs. Nothing numeric happens here; io/ writes the files."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass

import jax
import numpy as np

from jaxlab.devices import session_sharding
from jaxlab.engine import DIVERGED, PolicySnapshot
from jaxlab.interrupt import SaveRecord
from jaxlab.io import analysis, checkpoints, specs
from jaxlab.io import log as run_log
from jaxlab.io.paths import RunPaths
from jaxlab.io.session_df import SessionFrames
from jaxlab.io.tensorboard import SessionWriters
from jaxlab.plan import Plan

BEST_WRITE_SECONDS = 30.0  # ckpt-best files are rewritten at most this often (and when the trial ends)
# CSVs are rewritten after every call unless that costs more than 1/CSV_WRITE_SHARE of the time between
# writes (thousands of sessions): then as often as that budget allows, and always when the trial ends.
CSV_WRITE_SHARE = 10
VERBOSE_COLUMNS = ("frame", "total_reward", "total_reward_ma", "loss", "lr")


@dataclass(frozen=True)
class SessionLayout:
    """The sessions of one program: session g is session g % S of trial trials[g // S]."""

    trials: tuple[int, ...]
    sessions_per_trial: int

    @property
    def num_sessions(self) -> int:
        return len(self.trials) * self.sessions_per_trial

    def trial_session(self, g: int) -> tuple[int, int]:
        return self.trials[g // self.sessions_per_trial], g % self.sessions_per_trial

    def sessions_of(self, index: int) -> slice:
        """The program's sessions of trial `self.trials[index]`."""
        return slice(index * self.sessions_per_trial, (index + 1) * self.sessions_per_trial)


class Recorder:
    """Writes what the program's calls return, as they return it."""

    def __init__(
        self,
        layout: SessionLayout,
        paths: RunPaths,
        nets,
        columns: tuple[str, ...],
        evaluated: bool,
        record: SaveRecord,
        verbose: bool = False,
    ):
        """`nets` is the algorithm's params -> named networks; `columns` its DataFrame columns; `evaluated`
        whether eval rows come apart from the train rows."""
        self.layout, self.paths, self.nets, self.columns, self.record = layout, paths, nets, columns, record
        self.verbose, self.log = verbose, run_log.get()
        self.train_frames = SessionFrames(layout.num_sessions, columns)
        self.eval_frames = SessionFrames(layout.num_sessions, columns) if evaluated else self.train_frames
        self.tensorboard: SessionWriters | None = None
        self.best_host: PolicySnapshot | None = None
        self.best_unsaved: set[int] = set()
        self.best_saved_at = self.frames_written_at = self.frames_write_seconds = 0.0

    @property
    def evaluated(self) -> bool:
        return self.eval_frames is not self.train_frames

    def open(self, resumed: dict | None = None) -> None:
        """Start writing. A resumed run (`resumed`: its saved progress) reads its rows up to the saved state
        from its CSVs and writes its TensorBoard events again from them, so no step appears twice."""
        if resumed is not None:
            for g in range(self.layout.num_sessions):
                self.train_frames.read(g, self._df(g, "train"), resumed["train_rows"][g])
                if self.evaluated:
                    self.eval_frames.read(g, self._df(g, "eval"), resumed["eval_rows"][g])
        dirs = [
            self.paths.tensorboard_dir(*self.layout.trial_session(g)) for g in range(self.layout.num_sessions)
        ]
        self.tensorboard = SessionWriters(dirs, fresh=resumed is not None)
        if resumed is not None:
            self._add_tensorboard_rows(0, self.train_frames.rows, self.eval_frames.rows)

    def _df(self, g: int, kind: str) -> str:
        return self.paths.session_df(*self.layout.trial_session(g), kind)

    def add(self, host: dict, wall_t: np.ndarray, first: int) -> None:
        """One call's rows ([C, B] per column, sessions first .. first + B - 1) that ended at `wall_t` [C]:
        CSV rows and TensorBoard scalars of the sessions that wrote them."""
        written = host["written"]  # [R, B]: stopped and diverged sessions write no rows
        new_train = self.train_frames.append(host, wall_t, first, written)
        new_eval = new_train
        if self.evaluated:
            eval_rows = {
                **host,
                "total_reward": host["eval_total_reward"],
                "total_reward_ma": host["eval_total_reward_ma"],
            }
            new_eval = self.eval_frames.append(eval_rows, wall_t, first, written & host["evaluated"])
        self._add_tensorboard_rows(first, new_train, new_eval)
        if self.verbose:
            for c in range(len(wall_t)):
                self.log.info("  ".join(f"{k} {float(host[k][c, 0]):.4g}" for k in VERBOSE_COLUMNS))

    def _add_tensorboard_rows(
        self, first: int, train_rows: list[list[dict]], eval_rows: list[list[dict]]
    ) -> None:
        for s, session_rows in enumerate(train_rows):
            self.tensorboard.add_rows(first + s, "train", session_rows)
            if self.evaluated:  # otherwise the eval scalars are the train ones
                self.tensorboard.add_rows(first + s, "eval", eval_rows[s])

    def note_best(self, best: PolicySnapshot, improved: np.ndarray, first: int) -> None:
        """Sessions whose best total_reward_ma improved in a call: copy their best policy to the host (the
        only
        device-to-host copy of weights during training)."""
        if improved.size:
            self.best_host = jax.device_get(best)
            self.best_unsaved.update((first + improved).tolist())

    def keep_up(self, now: float, since: float, first: int) -> None:
        """After a call (at `now` seconds, `since` the clock's zero): the ckpt-best files at most every
        BEST_WRITE_SECONDS, the CSVs as often as CSV_WRITE_SHARE allows."""
        if now - self.best_saved_at >= BEST_WRITE_SECONDS:
            self.save_best(first)
            self.best_saved_at = now
        if now - self.frames_written_at >= CSV_WRITE_SHARE * self.frames_write_seconds:
            self.write_frames()
            self.frames_written_at = time.perf_counter() - since
            self.frames_write_seconds = self.frames_written_at - now

    def write_frames(self) -> None:
        with self.record.lock:  # a second signal waits for these files, so that its words are true
            for g in range(self.layout.num_sessions):
                self.train_frames.write(g, self._df(g, "train"))
                self.eval_frames.write(g, self._df(g, "eval"))
            self.record.rows_frame = max(
                (rows[-1]["frame"] for rows in self.train_frames.rows if rows), default=0
            )

    def save_best(self, first: int) -> None:
        """The ckpt-best files of the sessions whose best improved since they were last written."""
        for g in sorted(self.best_unsaved):
            self._save_networks(self.best_host, g, first, best=True)
        self.best_unsaved.clear()

    def save_weights(self, final: PolicySnapshot, first: int, batch: int) -> None:
        """The ckpt-best and final weights of the batch of sessions first .. first + batch - 1 (`final`: a
        host
        copy of their current policies)."""
        self.save_best(first)
        for g in range(first, first + batch):
            self._save_networks(final, g, first, best=False)
        self.record.final_weights = True

    def _save_networks(self, policy: PolicySnapshot, g: int, first: int, best: bool) -> None:
        policy = jax.tree.map(lambda x: np.asarray(x[g - first]), policy)
        checkpoints.save_networks(
            self.paths, *self.layout.trial_session(g), self.nets(policy.params), policy.obs_stats, best
        )

    def warn_diverged(self, g: int, running: int) -> None:
        """A warning line for session `g`, which went non-finite: it is frozen with its last finite policy."""
        rows = self.train_frames.rows[g]
        after = f"after frame {rows[-1]['frame']:,}" if rows else "before its first checkpoint"
        rest = (
            f"the other {sessions_in_words(running)} train on" if running else "no session is left training"
        )
        self.log.warning(
            f"session {self.paths.session_prefix(*self.layout.trial_session(g))} diverged (non-finite loss or"
            f" params) {after}: it is frozen with its last finite policy; {rest}"
        )

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()

    def finish(
        self,
        specs_by_trial: dict[int, dict],
        metas: dict[int, dict],
        status: np.ndarray,
        random_baseline: float,
        png: bool,
        interrupted: bool,
    ) -> dict[int, dict]:
        """The trials' metrics and graphs, when they end normally or not; the trial specs record the sessions
        that diverged and the frame an interrupt stopped them at. Returns the trial scalar metrics."""
        figures, trial_metrics = {}, {}
        for i, trial in enumerate(self.layout.trials):
            diverged = np.flatnonzero(status[self.layout.sessions_of(i)] == DIVERGED).tolist()
            ended = {"diverged_sessions": diverged} if diverged else {}
            if interrupted:
                ended["interrupted_at_frame"] = self.record.rows_frame
            if ended:  # retro-analysis counts them too
                specs.write_trial_spec(self.paths, trial, specs_by_trial[trial], {**metas[trial], **ended})
            trial_metrics[trial], trial_figures = analysis.analyze_trial(
                self.paths,
                trial,
                self.layout.sessions_per_trial,
                random_baseline,
                len(diverged),
                self.columns,
            )
            figures.update(trial_figures)
        analysis.write_figures(self.paths, figures, png)
        return trial_metrics

    def summarise(
        self, trial_metrics: dict[int, dict], interrupted: bool, frames: int, seconds: float
    ) -> None:
        """The end of the trials in the log: each session's train total_reward_ma, the trial's eval score, and
        the frames this run trained (a resumed run: since it resumed) over the time it took."""
        ma = np.array([rows[-1]["total_reward_ma"] if rows else np.nan for rows in self.train_frames.rows])
        for i, trial in enumerate(self.layout.trials):
            per_session = np.round(ma[self.layout.sessions_of(i)], 2).tolist()
            how = f"stopped at frame {self.record.rows_frame:,}" if interrupted else "done"
            scores = trial_metrics.get(trial, {})
            score = scores.get("total_reward_ma")
            evaluated = (
                f"; trial total_reward_ma {score:.2f}, strength {scores['strength']:.2f}"
                if score is not None
                else ""
            )
            self.log.info(f"trial {trial} {how}: train total_reward_ma per session {per_session}{evaluated}")
        self.log.info(
            f"{frames:,} frames in {seconds:.1f} s ({frames / max(seconds, 1e-9):,.0f} frames/s over"
            f" {sessions_in_words(self.layout.num_sessions)})"
        )


# What writing a run folder imports when it first needs it (seconds in all): TensorBoard's writer, torch for
# the .pt files, orbax for the training state.
WRITER_MODULES = ("tensorboardX", "torch", "orbax.checkpoint")


def import_writers() -> None:
    """Import WRITER_MODULES, in the background while the program compiles (imports are thread-safe)."""
    for module in WRITER_MODULES:
        importlib.import_module(module)


def sessions_in_words(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


def log_plan(spec: dict, plan: Plan, layout: SessionLayout) -> None:
    """The trials' plan in the log: sessions, checkpoints and frames, and how the frequencies were rounded."""
    log, meta = run_log.get(), spec["meta"]
    trials = ", ".join(map(str, layout.trials))
    log.info(
        f"trial{'s' if len(layout.trials) > 1 else ''} {trials}: {spec['agent']['algorithm']['name']} on "
        f"{spec['env']['name']}, {sessions_in_words(layout.sessions_per_trial)} x {spec['env']['num_envs']}"
        f" envs, {plan.num_checkpoints} checkpoints to {plan.total_frames:,} frames"
    )
    if plan.rows_per_checkpoint > 1:
        log.info(
            f"rows every {meta['log_frequency']} frames inside updates of {plan.frames_per_update} frames"
            " (at the vector steps past each multiple, as SLM Lab writes them)"
        )
    elif plan.frames_per_checkpoint != meta["log_frequency"]:
        log.info(
            f"log_frequency {meta['log_frequency']} rounded to {plan.frames_per_checkpoint} frames "
            f"({plan.updates_per_checkpoint} updates of {plan.frames_per_update} frames)"
        )
    if meta["rigorous_eval"] and plan.frames_per_eval != meta["eval_frequency"]:
        log.info(f"eval_frequency {meta['eval_frequency']} rounded to {plan.frames_per_eval} frames")


def log_compiled(seconds: float, layout: SessionLayout, batch: int, random_baseline: float) -> None:
    """What was compiled: for how many sessions, over how many devices, in batches or not."""
    batches = ""
    if batch != layout.num_sessions:
        batches = f", run in {layout.num_sessions // batch} batches of {batch} to fit device memory"
    if len(layout.trials) > 1:
        sessions = f"{len(layout.trials)} trials x {sessions_in_words(layout.sessions_per_trial)}"
    else:
        sessions = sessions_in_words(batch)
    devices = session_sharding(batch).mesh.size
    on = f" sharded over {devices} {jax.devices()[0].platform.upper()} devices" if devices > 1 else ""
    run_log.get().info(
        f"compiled in {seconds:.1f} s (one program for {sessions}{on}{batches});"
        f" random-policy baseline {random_baseline:.2f}"
    )
