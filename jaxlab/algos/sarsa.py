"""SLM Lab's SARSA: on-policy TD learning of Q(s, a) from the batch the exploring policy just collected.

One update = `training_frequency` vector steps, acting epsilon-greedy or Boltzmann on the Q values (the DQN
family's `behaviour_action`, with `explore_var_spec` over frames) -> targets r + gamma * (1 - terminated) *
Q(s', a'), a' the action the policy takes at s', without gradient through them -> one gradient step of the
net's `loss_spec` over the whole batch (SLM Lab's `OnPolicyBatchReplay`).

a' is the next action in the batch, as SLM Lab takes it, except where SLM Lab has none to take: after the
batch's last step, and where an episode was truncated (the batch's next action was taken at the reset
observation). There a' is drawn by the same exploring policy at s' (the final observation when truncated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from jaxlab.algos.base import Algorithm, StepMetrics
from jaxlab.algos.dqn import EXPLORATION_SCHEMA, act, behaviour_action
from jaxlab.algos.losses import Loss
from jaxlab.algos.networks import NET_TYPES, QNet, body_schema, make_body
from jaxlab.algos.optim import OptimSettings, apply_gradients, spec_lr
from jaxlab.algos.policy_nets import MEMORY_SCHEMA, check_memory
from jaxlab.algos.schedules import Schedule
from jaxlab.envs import EnvDescription, VecEnv, VecEnvState
from jaxlab.schema import SpecError, choice, integer, real

ALGORITHM_SCHEMA = {
    "name": choice("SARSA", "SARSA"),
    **EXPLORATION_SCHEMA,
    "gamma": real(0.99, 0.0, 1.0),
    "training_frequency": integer(32, 1),  # vector steps per update (the batch is x num_envs)
}
NET_SCHEMA = body_schema(type=choice("MLPNet", *NET_TYPES))


@dataclass(frozen=True)
class Static:
    env: VecEnv
    q_net: QNet
    action_policy: str  # epsilon_greedy, boltzmann or default (dqn.behaviour_action reads these two)
    greedy_sampling: bool  # action_pdtype Argmax
    time_horizon: int  # vector steps per update
    loss: Loss
    optim: OptimSettings

    @property
    def frames_per_update(self) -> int:
        return self.time_horizon * self.env.num_envs


@struct.dataclass
class HParams:
    lr: jax.Array
    gamma: jax.Array
    explore_var: Schedule  # epsilon or temperature, over frames
    max_grad_norm: jax.Array


@struct.dataclass
class SarsaState:
    params: dict  # {"net": the Q net}
    opt_state: Any
    env_state: VecEnvState
    obs: jax.Array  # [E, *obs_shape]
    key: jax.Array
    hp: HParams
    frame: jax.Array  # int32, env steps summed over envs
    opt_step: jax.Array  # int32, gradient steps


@struct.dataclass
class Experience:
    """One update's steps, leaves [T, E, ...]; `next_action` is a' of the step's target."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    next_obs: jax.Array  # the step's s': the final observation where the episode ended
    next_action: jax.Array


def check(spec: dict, env: EnvDescription) -> None:
    if not env.discrete:
        raise SpecError(
            f"agent.algorithm.name = SARSA needs discrete actions, but {env.name} has continuous ones — use a"
            " discrete env or a continuous-action algorithm"
        )
    check_memory(spec, env)


def configure(spec: dict, env: VecEnv) -> tuple[Static, HParams]:
    algo, net = spec["agent"]["algorithm"], spec["agent"]["net"]
    static = Static(
        env=env,
        q_net=QNet(make_body(net, env.obs_shape), env.num_actions),
        action_policy=algo["action_policy"],
        greedy_sampling=algo["action_pdtype"] == "Argmax",
        time_horizon=algo["training_frequency"],
        loss=Loss.from_spec(net["loss_spec"]),
        optim=OptimSettings.from_spec(
            net, net["optim_spec"], 1, algo["training_frequency"] * env.num_envs, spec["env"]["max_frame"]
        ),
    )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    hp = HParams(
        lr=f32(spec_lr(net["optim_spec"], "agent.net.optim_spec")),
        gamma=f32(algo["gamma"]),
        explore_var=Schedule.from_spec(algo["explore_var_spec"]),
        max_grad_norm=f32(net["clip_grad_val"] or 0.0),
    )
    return static, hp


def init(static: Static, key: jax.Array, hp: HParams) -> SarsaState:
    key, net_key, env_key = jax.random.split(key, 3)
    obs, env_state = static.env.reset(env_key)
    params = {"net": static.q_net.init(net_key, obs[0])}
    return SarsaState(
        params=params,
        opt_state=static.optim.make(hp.lr, hp.max_grad_norm).init(params["net"]),
        env_state=env_state,
        obs=obs,
        key=key,
        hp=hp,
        frame=jnp.zeros((), jnp.int32),
        opt_step=jnp.zeros((), jnp.int32),
    )


def collect(static: Static, state: SarsaState) -> tuple[SarsaState, Experience]:
    """`time_horizon` vector steps of the exploring policy, and each step's a'."""
    explore_var = state.hp.explore_var(state.frame)

    def choose(obs: jax.Array, key: jax.Array) -> jax.Array:
        return behaviour_action(static, static.q_net.apply(state.params["net"], obs), key, explore_var)

    def env_step(state: SarsaState, _):
        key, action_key, step_key, next_key = jax.random.split(state.key, 4)
        action = choose(state.obs, action_key)
        env_state, step = static.env.step(step_key, state.env_state, action)
        ended = step.terminated | step.truncated
        next_obs = jnp.where(ended.reshape(-1, *([1] * (step.obs.ndim - 1))), step.final_obs, step.obs)
        # a' at s' where the batch holds none that fits (drawn here, used only there)
        drawn = choose(next_obs, next_key)
        step_out = (state.obs, action, step.reward, step.terminated, next_obs, ended, drawn)
        return state.replace(key=key, env_state=env_state, obs=step.obs), step_out

    state, (obs, action, reward, terminated, next_obs, ended, drawn) = jax.lax.scan(
        env_step, state, None, static.time_horizon
    )
    following = jnp.concatenate([action[1:], drawn[-1:]], axis=0)
    next_action = jnp.where(ended, drawn, following)
    experience = Experience(obs, action, reward, terminated, next_obs, next_action)
    return state.replace(frame=state.frame + static.frames_per_update), experience


def loss(static: Static, params: Any, batch: Experience, gamma: jax.Array) -> jax.Array:
    """Mean `loss_spec` of Q(s, a) against r + gamma * (1 - terminated) * Q(s', a') over the batch [B]."""
    q_taken = jnp.take_along_axis(static.q_net.apply(params, batch.obs), batch.action[:, None], -1)[:, 0]
    next_q = static.q_net.apply(params, batch.next_obs)
    next_value = jnp.take_along_axis(next_q, batch.next_action[:, None], -1)[:, 0]
    target = batch.reward + gamma * (1.0 - batch.terminated.astype(jnp.float32)) * next_value
    return static.loss.elementwise(q_taken, jax.lax.stop_gradient(target)).mean()


def update(static: Static, state: SarsaState) -> tuple[SarsaState, StepMetrics]:
    """Collect one batch, take one gradient step on it."""
    state, experience = collect(static, state)
    batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), experience)
    tx = static.optim.make(state.hp.lr, state.hp.max_grad_norm, state.opt_step)
    value, grads = jax.value_and_grad(loss, argnums=1)(static, state.params["net"], batch, state.hp.gamma)
    params, opt_state = apply_gradients(tx, grads, state.opt_state, state.params["net"])
    state = state.replace(params={"net": params}, opt_state=opt_state, opt_step=state.opt_step + 1)
    lr = static.optim.lr(state.hp.lr, state.opt_step)
    return state, StepMetrics(value, lr, {"explore_var": state.hp.explore_var(state.frame)})


ALGORITHM = Algorithm(
    name="SARSA",
    schema={"algorithm": ALGORITHM_SCHEMA, "net": NET_SCHEMA, "memory": MEMORY_SCHEMA},
    configure=configure,
    init=init,
    update=update,
    act=act,  # the DQN family's: greedy, or exploring at explore_var's end value
    nets=dict,
    networks=lambda static: {"net": static.q_net},
    check=check,
    columns=("explore_var",),
)
