"""SLM Lab's DQN family: VanillaDQN (no target network), DQN and DoubleDQN (the online net picks the next
action, the target net values it: SLM Lab v5's DQN is Double DQN). Epsilon-greedy, Boltzmann or sampled
exploration; uniform or prioritized replay, CER; plain or dueling Q networks; the net's `loss_spec`.

The replay cadence keys and the update skeleton are the off-policy plumbing (`off_policy.py`). Besides:
- `training_iter` x `training_batch_iter`: a training samples `training_iter` batches of
  `memory.batch_size`, and takes `training_batch_iter` gradient steps on each (targets recomputed per step).
- `explore_var_spec` (frames): epsilon (epsilon_greedy: with that probability every env of the vector step
  takes a uniform random action, one coin for all as SLM Lab tosses it) or temperature (boltzmann:
  softmax(Q / temperature)); `action_pdtype: Argmax` makes boltzmann and `default` greedy. `act(explore=True)`
  outside training explores at the end value, as SLM Lab's eval does.
- the target net starts from its own random init and follows the online net at every vector step:
  `update_type: replace` copies it when the frame count is within num_envs past a multiple of
  `update_frequency`; `polyak` moves it by target <- polyak_coef * online + (1 - polyak_coef) * target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos import off_policy, replay
from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.algos.losses import Loss
from jaxlab.algos.networks import NET_TYPES, DuelingQNet, QNet, body_schema, make_body
from jaxlab.algos.off_policy import Learned, ReplayHParams, ReplaySettings
from jaxlab.algos.optim import OptimSettings, apply_gradients, spec_lr
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv, VecEnvState
from jaxlab.schema import SpecError, choice, integer, real, schedule

# How a Q-learner explores (the DQN family's and SARSA's keys): `behaviour_action`.
EXPLORATION_SCHEMA = {
    "action_pdtype": choice("Argmax", "Argmax", "Categorical", "default"),
    "action_policy": choice("epsilon_greedy", "epsilon_greedy", "boltzmann", "default"),
    "explore_var_spec": {
        **schedule(1.0),
        "name": choice("linear_decay", "no_decay", "linear_decay", "rate_decay"),
        "end_val": real(0.1, 0.0, nullable=True),
        "end_step": integer(10_000),
    },
}


def _algorithm_schema(name: str) -> dict:
    return {
        "name": choice(name, name),
        **EXPLORATION_SCHEMA,
        "gamma": real(0.99, 0.0, 1.0),
        **off_policy.CADENCE_SCHEMA,
        "training_batch_iter": integer(1, 1),
    }


# The DQN family's net: a Q network (dueling or not), its loss, and how the target network follows it.
NET_SCHEMA = body_schema(
    type=choice("MLPNet", *NET_TYPES, "DuelingMLPNet", "DuelingConvNet"),
    update_type=choice("replace", "replace", "polyak"),
    update_frequency=integer(1, 1),  # frames between target copies
    polyak_coef=real(0.0, 0.0, 1.0),  # weight of the online net at a polyak update (SLM Lab's)
)


@dataclass(frozen=True)
class Static:
    """Everything shape-changing or structural: one compiled program per distinct Static."""

    env: VecEnv
    q_net: Any  # QNet or DuelingQNet
    target_net: bool  # False: VanillaDQN, bootstrapping from the online net
    action_policy: str  # epsilon_greedy, boltzmann or default
    greedy_sampling: bool  # action_pdtype Argmax: boltzmann / default pick the best action
    replay: ReplaySettings
    training_batch_iter: int
    polyak: bool  # else replace
    update_frequency: int
    loss: Loss
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.replay.vector_steps * self.env.num_envs

    @property
    def grad_steps_per_update(self) -> int:
        return self.replay.training_iter * self.training_batch_iter


@struct.dataclass
class HParams:
    """Float hyperparameters, arrays in the state so trials can be vmapped."""

    lr: jax.Array
    gamma: jax.Array
    explore_var: Schedule  # epsilon or temperature, over frames
    polyak_coef: jax.Array
    max_grad_norm: jax.Array
    replay: ReplayHParams


@struct.dataclass
class DQNState:
    params: dict  # {"net": online Q net, "target_net": target Q net (not VanillaDQN)}
    opt_state: Any  # of params["net"] only
    memory: replay.Memory
    env_state: VecEnvState
    obs: jax.Array  # [E, *obs_shape] current observation
    key: jax.Array
    hp: HParams
    frame: jax.Array  # int32, env steps summed over envs
    opt_step: jax.Array  # int32, gradient steps


@struct.dataclass
class OnlineNet:
    """What a training changes: the online Q net and its optimiser state."""

    params: Any
    opt_state: Any


def check(spec: dict, env: EnvDescription) -> None:
    """Actions and training cadence that fit together."""
    if not env.discrete:
        raise SpecError(
            f"agent.algorithm.name = {spec['agent']['algorithm']['name']} needs discrete actions, but"
            f" {env.name} has continuous ones — use a discrete env or a continuous-action algorithm"
        )
    off_policy.check_replay(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    """Split a validated spec into static settings and float hyperparameters."""
    algo, net, memory = spec["agent"]["algorithm"], spec["agent"]["net"], spec["agent"]["memory"]
    q_net_class = DuelingQNet if net["type"].startswith("Dueling") else QNet
    settings = ReplaySettings.from_spec(spec, env, start_default=memory["batch_size"], iter_default=1)
    static = Static(
        env=env,
        q_net=q_net_class(make_body(net, env.obs_shape), env.num_actions),
        target_net=algo["name"] != "VanillaDQN",
        action_policy=algo["action_policy"],
        greedy_sampling=algo["action_pdtype"] == "Argmax",
        replay=settings,
        training_batch_iter=algo["training_batch_iter"],
        polyak=net["update_type"] == "polyak",
        update_frequency=net["update_frequency"],
        loss=Loss.from_spec(net["loss_spec"]),
        optim=OptimSettings.from_spec(
            net,
            net["optim_spec"],
            settings.training_iter * algo["training_batch_iter"],
            algo["training_frequency"] * env.num_envs,
            spec["env"]["max_frame"],
        ),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        lr=f32(spec_lr(net["optim_spec"], "agent.net.optim_spec")),
        gamma=f32(algo["gamma"]),
        explore_var=Schedule.from_spec(algo["explore_var_spec"]),
        polyak_coef=f32(net["polyak_coef"]),
        max_grad_norm=f32(net["clip_grad_val"] or 0.0),
        replay=off_policy.replay_hparams(memory),
    )
    return static, hp


def init(static: Static, key: jax.Array, hp: HParams) -> DQNState:
    """One session's initial train state: online and target nets initialised apart (as SLM Lab does), an
    empty memory."""
    key, net_key, target_key, env_key = jax.random.split(key, 4)
    obs, env_state = static.env.reset(env_key)
    online = static.q_net.init(net_key, obs[0])
    params = (
        {"net": online, "target_net": static.q_net.init(target_key, obs[0])}
        if static.target_net
        else {"net": online}
    )
    return DQNState(
        params=params,
        opt_state=static.optim.make(hp.lr, hp.max_grad_norm).init(online),
        memory=off_policy.empty_memory(static, obs[0]),
        env_state=env_state,
        obs=obs,
        key=key,
        hp=hp,
        frame=jnp.zeros((), jnp.int32),
        opt_step=jnp.zeros((), jnp.int32),
    )


def behaviour_action(
    static: Static, q_values: jax.Array, key: jax.Array, explore_var: jax.Array
) -> jax.Array:
    """Exploring actions [E] from Q values [E, A]: epsilon-greedy (explore_var = epsilon: one coin for the
    vector step, then a uniform action per env), Boltzmann (explore_var = temperature) or a sample of
    softmax(Q) (`default`); sampling is the argmax with action_pdtype Argmax."""
    if static.action_policy == "epsilon_greedy":
        coin_key, uniform_key = jax.random.split(key)
        random_action = jax.random.randint(uniform_key, q_values.shape[:-1], 0, q_values.shape[-1])
        return jnp.where(jax.random.uniform(coin_key) < explore_var, random_action, jnp.argmax(q_values, -1))
    if static.greedy_sampling:
        return jnp.argmax(q_values, -1)
    if static.action_policy == "boltzmann":
        # A zero temperature is the greedy policy; the floor keeps the division finite.
        return jax.random.categorical(key, q_values / jnp.maximum(explore_var, 1e-8))
    return jax.random.categorical(key, q_values)


def act(
    static: Static, hp: HParams, params: dict, obs: jax.Array, key: jax.Array, explore: bool
) -> jax.Array:
    """Actions [E] for observations [E, *obs_shape]: greedy (argmax Q), or exploring at the end value of
    explore_var (collection explores at the training frame's value: `behaviour_action`)."""
    q_values = static.q_net.apply(params["net"], obs)
    if explore:
        return behaviour_action(static, q_values, key, hp.explore_var.end_val)
    return jnp.argmax(q_values, -1)


def nets(params: dict) -> dict:
    """Named networks for export: `net` (the online Q net, the policy) and `target_net`."""
    return dict(params)


def networks(static: Static) -> dict:
    return {"net": static.q_net, **({"target_net": static.q_net} if static.target_net else {})}


def q_target(
    reward: jax.Array,
    terminated: jax.Array,
    gamma: jax.Array,
    next_q_target: jax.Array,
    next_q_online: jax.Array,
) -> jax.Array:
    """Bootstrapped targets [B]: r + gamma * (1 - terminated) * Q_target(s', a'), a' = argmax Q_online(s'),
    with Q values [B, A] at s' (VanillaDQN passes the online values as both: max_a Q_online(s', a))."""
    best = jnp.argmax(next_q_online, -1)
    next_value = jnp.take_along_axis(next_q_target, best[..., None], axis=-1)[..., 0]
    return reward + gamma * (1.0 - terminated.astype(jnp.float32)) * next_value


def loss(
    static: Static,
    params: Any,
    target_params: Any,
    batch: replay.Transition,
    weight: jax.Array,
    gamma: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Weighted mean `loss_spec` of Q(s, a) against its target over a batch [B]; returns (loss, |td| [B])."""
    q_values = static.q_net.apply(params, batch.obs)
    q_taken = jnp.take_along_axis(q_values, batch.action[:, None], axis=-1)[:, 0]
    next_q_online = static.q_net.apply(params, batch.next_obs)
    next_q_target = static.q_net.apply(target_params, batch.next_obs) if static.target_net else next_q_online
    target = jax.lax.stop_gradient(
        q_target(batch.reward, batch.terminated, gamma, next_q_target, next_q_online)
    )
    return (weight * static.loss.elementwise(q_taken, target)).mean(), jnp.abs(target - q_taken)


def train(static: Static, state: DQNState) -> Learned:
    """`training_iter` sampled batches x `training_batch_iter` gradient steps on each."""
    hp = state.hp
    tx = static.optim.make(hp.lr, hp.max_grad_norm, state.opt_step)
    grad_fn = jax.value_and_grad(loss, argnums=1, has_aux=True)
    target_params = state.params.get("target_net")

    def batch_step(carry: Learned, key: jax.Array):
        batch, index, weight, memory, carry = off_policy.draw(static, state, carry, key)

        def grad_step(online: OnlineNet, _):
            target = target_params if static.target_net else online.params
            (value, abs_td), grads = grad_fn(static, online.params, target, batch, weight, hp.gamma)
            params, opt_state = apply_gradients(tx, grads, online.opt_state, online.params)
            return OnlineNet(params, opt_state), (value, abs_td)

        online, (losses, abs_tds) = jax.lax.scan(grad_step, carry.trainable, None, static.training_batch_iter)
        learned = carry.replace(trainable=online, metrics={"loss": carry.metrics["loss"] + losses.sum()})
        return off_policy.write_priorities(static, learned, memory, index, abs_tds[-1], hp.replay), None

    start = off_policy.learned_start(
        state, OnlineNet(state.params["net"], state.opt_state), {"loss": jnp.zeros(())}
    )
    learned, _ = jax.lax.scan(batch_step, start, jax.random.split(state.key, static.replay.training_iter))
    return learned.replace(metrics={"loss": learned.metrics["loss"] / static.grad_steps_per_update})


def update(static: Static, state: DQNState) -> tuple[DQNState, StepMetrics]:
    """One DQN iteration: collect into the memory, train once (once the memory holds training_start_step
    frames), follow with the target net. Metrics are scalars for the session DataFrame; loss is NaN before
    training starts."""

    def choose_action(state: DQNState, key: jax.Array) -> jax.Array:
        q_values = static.q_net.apply(state.params["net"], state.obs)
        return behaviour_action(static, q_values, key, state.hp.explore_var(state.frame))

    def skipped(state: DQNState) -> Learned:
        return off_policy.untrained(state, OnlineNet(state.params["net"], state.opt_state), ("loss",))

    state, learned, frame_before = off_policy.update(
        static, state, choose_action, 1, lambda s: train(static, s), skipped, static.grad_steps_per_update
    )
    online = learned.trainable
    params = {**state.params, "net": online.params}
    if static.target_net:
        params["target_net"] = off_policy.follow(
            params["target_net"],
            online.params,
            frame_before,
            static,
            static.polyak,
            static.update_frequency,
            state.hp.polyak_coef,
        )
    state = state.replace(params=params, opt_state=online.opt_state)
    lr = static.optim.lr(state.hp.lr, state.opt_step)
    return state, StepMetrics(learned.metrics["loss"], lr, {"explore_var": state.hp.explore_var(state.frame)})


def _algorithm(name: str) -> Algorithm:
    return Algorithm(
        name=name,
        schema={"algorithm": _algorithm_schema(name), "net": NET_SCHEMA, "memory": replay.MEMORY_SCHEMA},
        configure=configure,
        init=init,
        update=update,
        act=act,
        nets=nets,
        networks=networks,
        check=check,
        columns=("explore_var",),
    )


VANILLA_DQN, DQN, DOUBLE_DQN = _algorithm("VanillaDQN"), _algorithm("DQN"), _algorithm("DoubleDQN")
