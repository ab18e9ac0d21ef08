"""The compiled core: all sessions of a trial in one jitted, vmapped program.

`init` vmaps the algorithm's `init` over session keys. `run_chunk` is ONE compiled function that
runs a dynamic number of checkpoints (a `while_loop` around `updates_per_checkpoint` scanned
updates, vmapped over sessions) and returns only the per-checkpoint rows, [checkpoints, sessions]
scalars. The host picks how many checkpoints each call covers so a call is about a second of
work, without recompiling. What needs every checkpoint (the last 100 `total_reward` values, the
best `total_reward_ma` and the params at it) lives in `SessionState`. Every `eval_every`
checkpoints a `lax.cond` on the (unbatched) checkpoint index runs the deterministic policy on
separate env copies; its RNG stream is apart from training's, so eval never changes training.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxlab.algos.base import Algorithm, StepMetrics, TrainState
from jaxlab.devices import session_sharding, tree_bytes
from jaxlab.envs import VecEnv, first_episode_returns
from jaxlab.plan import Plan

MA_WINDOW = 100  # total_reward_ma: mean of total_reward over the last 100 rows
# SessionState.status: a session trains and writes rows while RUNNING. The others keep their params as they
# were (the vmapped program still computes them; their rows are masked out): a search trial stopped early by
# successive halving, or a session whose loss or params went non-finite.
RUNNING, STOPPED, DIVERGED = 0, 1, 2


@struct.dataclass
class PolicySnapshot:
    """What a policy needs at inference: its params, and the observation statistics when they are
    normalised."""

    params: Any
    obs_stats: Any  # RunningMeanStd or None


@struct.dataclass
class SessionState:
    """One session: the algorithm's train state plus what checkpoints track across calls."""

    train: Any
    reward_history: jax.Array  # [100] last total_reward values, NaN until filled
    rows_written: jax.Array  # int32, rows so far
    checkpoints: jax.Array  # int32, checkpoints so far
    best_reward_ma: jax.Array  # best total_reward_ma so far (-inf before any)
    best: PolicySnapshot  # the policy at best_reward_ma
    eval_history: jax.Array  # [100] last eval total_reward values
    evals_written: jax.Array  # int32, eval rows so far
    eval_key: jax.Array  # eval's own RNG stream, folded with the checkpoint index
    status: jax.Array  # int32: RUNNING, STOPPED or DIVERGED


def snapshot(train: TrainState) -> PolicySnapshot:
    """The policy of an algorithm's train state."""
    return PolicySnapshot(train.params, train.env_state.obs_stats)


def session_keys(seed: int, num_sessions: int) -> jax.Array:
    """Session s trains from fold_in(PRNGKey(seed), s), for s = 0 .. num_sessions - 1."""
    root = jax.random.PRNGKey(seed)
    return jax.vmap(lambda s: jax.random.fold_in(root, s))(jnp.arange(num_sessions))


def session_hparams(hps: list[Any], sessions_per_trial: int) -> Any:
    """The hyperparameters of every session, [T * S, ...] on each leaf: trial t's for sessions t*S .. t*S + S
    - 1."""
    return jax.tree.map(lambda *xs: jnp.repeat(jnp.stack(xs), sessions_per_trial, axis=0), *hps)


def stop_sessions(state: SessionState, sessions: list[int]) -> SessionState:
    """Mark sessions STOPPED (search trials cut by successive halving): from the next checkpoint on they
    write no rows and keep their policy."""
    status = state.status.at[jnp.asarray(sessions)].set(STOPPED)
    return state.replace(
        status=jax.device_put(status, state.status.sharding)
    )  # as the compiled program expects


def finite_after(before: Any, train: Any, loss: jax.Array) -> jax.Array:
    """Whether a session's loss and params are finite after its updates. Before their first gradient step,
    replay algorithms report a NaN loss: that is not divergence."""
    loss_ok = jnp.isfinite(loss) | (train.opt_step == before.opt_step)
    return jnp.stack([loss_ok] + [jnp.isfinite(p).all() for p in jax.tree.leaves(train.params)]).all()


def keep_policy(train: Any, before: Any, written: jax.Array) -> Any:
    """A session that writes no row keeps the policy it had (only params and obs stats: a select over
    replay buffers would copy them every checkpoint)."""
    frozen = snapshot(before)
    keep = lambda new, old: jnp.where(written, new, old)  # noqa: E731
    return train.replace(
        params=jax.tree.map(keep, train.params, frozen.params),
        env_state=train.env_state.replace(
            obs_stats=jax.tree.map(keep, train.env_state.obs_stats, frozen.obs_stats)
        ),
    )


class Engine:
    """Runs one trial's sessions: `init_sessions`, then `run_chunk` until `plan.num_checkpoints`."""

    def __init__(
        self, algo: Algorithm, static: Any, plan: Plan, eval_env: VecEnv | None = None, max_chunk: int = 256
    ):
        """`eval_env` holds `rigorous_eval` raw (un-normalised) env copies; None turns eval off."""
        self.algo, self.static, self.plan, self.eval_env = algo, static, plan, eval_env
        self.max_chunk = min(max_chunk, plan.num_checkpoints)
        self._compiled = None
        self.compile_seconds = 0.0
        self._init_vmapped = jax.jit(jax.vmap(self._init_session))  # one trace for every batch of sessions

    # ---- pure, per session -------------------------------------------------------------------
    def _init_session(self, key: jax.Array, hp: Any) -> SessionState:
        train_key, eval_key = jax.random.split(key)
        train = self.algo.init(self.static, train_key, hp)
        if not isinstance(train, TrainState):
            raise TypeError(
                f"{self.algo.name}.init returned a {type(train).__name__}, which lacks TrainState's fields"
            )
        return SessionState(
            train=train,
            reward_history=jnp.full(MA_WINDOW, jnp.nan),
            rows_written=jnp.zeros((), jnp.int32),
            checkpoints=jnp.zeros((), jnp.int32),
            best_reward_ma=jnp.asarray(-jnp.inf),
            best=snapshot(train),
            eval_history=jnp.full(MA_WINDOW, jnp.nan),
            evals_written=jnp.zeros((), jnp.int32),
            eval_key=eval_key,
            status=jnp.asarray(RUNNING, jnp.int32),
        )

    def _evaluate(self, session: SessionState, index: jax.Array) -> jax.Array:
        """Mean return of `rigorous_eval` episodes of the deterministic policy."""
        train = session.train

        def greedy(obs, key):
            return self.algo.act(self.static, train.hp, train.params, obs, key, False)

        key = jax.random.fold_in(session.eval_key, index)
        obs_stats, obs_clip = train.env_state.obs_stats, self.static.env.obs_clip
        return first_episode_returns(self.eval_env, key, greedy, obs_stats, obs_clip).mean()

    def _train_updates(self, train: Any) -> tuple[Any, StepMetrics]:
        """`updates_per_checkpoint` updates; the last one's metrics."""
        train, metrics = jax.lax.scan(
            lambda state, _: self.algo.update(self.static, state),
            train,
            None,
            self.plan.updates_per_checkpoint,
        )
        metrics = jax.tree.map(lambda m: m[-1], metrics)
        if set(metrics.columns) != set(self.algo.columns):
            raise TypeError(
                f"{self.algo.name}.update reports columns {sorted(metrics.columns)}, not {self.algo.columns}"
            )
        return train, metrics

    def _record_returns(
        self, session: SessionState, train: Any, written: jax.Array, frames: jax.Array, valid: jax.Array
    ) -> tuple[SessionState, dict]:
        """The rows' total_reward and its moving average [K]; the best policy so far."""
        stats = train.env_state.stats
        steps = frames // self.plan.num_envs
        total_reward = jax.vmap(stats.mean_return_at)(steps)

        def add(carry, row):
            history, count, best = carry
            reward, is_row = row
            history = jnp.where(is_row, history.at[count % MA_WINDOW].set(reward), history)
            reward_ma = jnp.nanmean(history)
            improved = written & is_row & (reward_ma > best)  # False while NaN
            return (history, count + is_row, jnp.where(improved, reward_ma, best)), (reward_ma, improved)

        start = (session.reward_history, session.rows_written, session.best_reward_ma)
        (history, count, best), (reward_ma, improved) = jax.lax.scan(add, start, (total_reward, valid))
        session = session.replace(
            train=train,
            reward_history=history,
            rows_written=count,
            checkpoints=session.checkpoints + 1,
            best_reward_ma=best,
            best=jax.tree.map(
                lambda new, old: jnp.where(improved.any(), new, old), snapshot(train), session.best
            ),
        )
        return session, {
            "total_reward": total_reward,
            "total_reward_ma": reward_ma,
            "best_improved": improved,
            "epi": jax.vmap(stats.episodes_at)(steps),
        }

    def _maybe_evaluate(self, session: SessionState, index: jax.Array) -> tuple[SessionState, dict]:
        """Every `eval_every` checkpoints and at the last, an eval row's returns (NaN otherwise)."""
        nothing = jnp.asarray(jnp.nan)
        if self.eval_env is None:
            return session, {
                "evaluated": jnp.asarray(False),
                "eval_total_reward": nothing,
                "eval_total_reward_ma": nothing,
            }
        evaluated = ((index + 1) % self.plan.eval_every == 0) | (index + 1 == self.plan.num_checkpoints)
        eval_reward = jax.lax.cond(evaluated, self._evaluate, lambda *_: nothing, session, index)
        eval_history = jnp.where(
            evaluated,
            session.eval_history.at[session.evals_written % MA_WINDOW].set(eval_reward),
            session.eval_history,
        )
        session = session.replace(eval_history=eval_history, evals_written=session.evals_written + evaluated)
        return session, {
            "evaluated": evaluated,
            "eval_total_reward": eval_reward,
            "eval_total_reward_ma": jnp.nanmean(eval_history),
        }

    def _checkpoint(self, session: SessionState, index: jax.Array) -> tuple[SessionState, dict]:
        """`updates_per_checkpoint` updates, then its DataFrame rows (a dict of [rows_per_checkpoint] arrays,
        `valid` where a row is). `index` is the trial-wide checkpoint number, the same for all sessions (not
        vmapped)."""
        train, metrics = self._train_updates(session.train)
        finite = finite_after(session.train, train, metrics.loss)
        running = session.status == RUNNING
        written = running & finite
        train = keep_policy(train, session.train, written)
        frames, valid = self.plan.row_frames(session.train.frame, train.frame)
        session, returns = self._record_returns(session, train, written, frames, valid)
        session, evaluation = self._maybe_evaluate(session, index)
        session = session.replace(status=jnp.where(running & ~finite, DIVERGED, session.status))
        last = jnp.arange(self.plan.rows_per_checkpoint) == valid.sum() - 1  # the eval goes with the last row
        each = lambda value: jnp.broadcast_to(value, frames.shape)  # noqa: E731
        row = {
            "frame": frames,
            "total_reward": returns["total_reward"],
            "total_reward_ma": returns["total_reward_ma"],
            "loss": each(metrics.loss),
            "t": frames // self.static.env.num_envs,
            "epi": returns["epi"],
            "opt_step": each(train.opt_step),
            "lr": each(metrics.lr),
            **{name: each(metrics.columns[name]) for name in self.algo.columns},
            "best_improved": returns["best_improved"],
            "written": each(written),
            "valid": valid,
            "status": each(session.status),
            **{name: each(value) for name, value in evaluation.items()},
            "evaluated": evaluation["evaluated"] & last,
            "checkpoint": each(index),
        }
        return session, row

    # ---- compiled, all sessions --------------------------------------------------------------
    def init_sessions(self, keys: jax.Array, hps: Any) -> SessionState:
        """Sessions from their keys [S, 2] and hyperparameters (a leading [S] on every leaf: search trials
        differ), [S, ...] on every leaf, sharded over the devices on the session axis."""
        state = self._init_vmapped(keys, hps)
        return jax.device_put(state, session_sharding(len(keys)))

    def state_shapes(self, num_sessions: int, hp: Any) -> SessionState:
        """The shapes of `init`'s state, placed as `init` places it, without allocating it. It traces the
        jitted
        init, so a later `init_sessions` of as many sessions reuses the trace."""
        keys = jax.ShapeDtypeStruct((num_sessions, 2), jnp.uint32)
        hps = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct((num_sessions, *jnp.shape(x)), jnp.result_type(x)), hp
        )
        shapes = jax.eval_shape(self._init_vmapped, keys, hps)
        sharding = session_sharding(num_sessions)
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)

    def state_bytes(self, num_sessions: int, hp: Any) -> int:
        """Bytes that `num_sessions` sessions need at the least while they train: `init`'s state, the eval env
        copies that evaluation holds, and the observations of one update's frames (on-policy algorithms keep
        the whole rollout). From shapes alone: nothing is allocated, not even the session keys, so an absurd
        spec can be refused before it exhausts memory."""

        def sessions(hp: Any) -> tuple:
            hps = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_sessions, *jnp.shape(x))), hp)
            keys = session_keys(0, num_sessions)
            first_obs = jax.vmap(self.static.env.reset)(keys)[0]  # [S, num_envs, *obs]
            eval_envs = jax.vmap(self.eval_env.reset)(keys) if self.eval_env is not None else None
            return jax.vmap(self._init_session)(keys, hps), eval_envs, first_obs

        state, eval_envs, first_obs = jax.eval_shape(sessions, hp)
        vector_steps = self.plan.frames_per_update // self.static.env.num_envs
        return tree_bytes((state, eval_envs)) + vector_steps * tree_bytes(first_obs)

    def _run_chunk(self, state: SessionState, start: jax.Array, num_checkpoints: jax.Array):
        """Checkpoints start .. start + num_checkpoints - 1. Returns the state, the rows [max_chunk, S]
        (the first `num_checkpoints` filled) and a copy of the best policy that outlives the donated state."""
        checkpoint = jax.vmap(self._checkpoint, in_axes=(0, None))
        row_shapes = jax.eval_shape(checkpoint, state, start)[1]
        rows = jax.tree.map(lambda s: jnp.zeros((self.max_chunk, *s.shape), s.dtype), row_shapes)

        def body(carry):
            i, state, rows = carry
            state, row = checkpoint(state, start + i)
            rows = jax.tree.map(lambda buf, r: buf.at[i].set(r), rows, row)
            return i + 1, state, rows

        _, state, rows = jax.lax.while_loop(
            lambda c: c[0] < num_checkpoints, body, (jnp.int32(0), state, rows)
        )
        return state, rows, jax.tree.map(jnp.copy, state.best)

    def compile(self, state: SessionState) -> None:
        """Compile `run_chunk` ahead of time for `state`'s shapes; the seconds are kept apart from training
        time (and add up over the compiles of one trial)."""
        start = time.perf_counter()
        jitted = jax.jit(self._run_chunk, donate_argnums=0)
        self._compiled = jitted.lower(state, jnp.int32(0), jnp.int32(1)).compile()
        self.compile_seconds += time.perf_counter() - start

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def program_bytes(self) -> int:
        """Device memory of the compiled program (XLA's analysis): arguments, outputs not aliased to them,
        and temporaries."""
        mem = self._compiled.memory_analysis()
        return (
            mem.argument_size_in_bytes
            + mem.output_size_in_bytes
            - mem.alias_size_in_bytes
            + mem.temp_size_in_bytes
        )

    def run_chunk(self, state: SessionState, start: int, num_checkpoints: int):
        """Dispatch checkpoints `start` .. `start + num_checkpoints - 1` (at most max_chunk).
        Returns (state, rows, best policy snapshot) as device arrays, asynchronously."""
        if self._compiled is None:
            self.compile(state)
        return self._compiled(state, jnp.int32(start), jnp.int32(num_checkpoints))


def rows_to_numpy(rows: dict, count: int) -> dict[str, np.ndarray]:
    """Host copies of the rows of the first `count` checkpoints, each [R, S]: the checkpoints' rows in order
    ([count, S, K] flattened), those that are rows (`valid`, the same for every session); `checkpoint` says
    which checkpoint each came from."""
    host = {name: np.asarray(value)[:count] for name, value in rows.items()}
    keep = host["valid"][:, 0, :].reshape(-1)
    return {name: value.transpose(0, 2, 1).reshape(-1, value.shape[1])[keep] for name, value in host.items()}
