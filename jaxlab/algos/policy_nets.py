"""The networks of the policy-gradient algorithms (PPO, ActorCritic, Reinforce) from SLM Lab's net section:
a policy and a critic apart (`net` + `critic_net`), one shared net, or a policy alone; SLM Lab's `actor_` /
`critic_` keys, by which the two networks differ (`actor_optim_spec`, `critic_optim_spec`, ...;
`use_same_optim: true` gives the critic the actor's), and each network's optimiser settings. Also the
policy-gradient keys of agent.algorithm and agent.memory that every one of them reads."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import struct

from jaxlab.algos.networks import NET_SCHEMA, ActorCriticNet, PolicyNet, ValueNet, make_body
from jaxlab.algos.optim import LR_SCHEDULER_SCHEMA, OPTIM_SPEC_SCHEMA, OptimSettings, spec_lr
from jaxlab.envs import EnvDescription, VecEnv
from jaxlab.schema import Field, SpecError, choice, mapping, optional_schedule, real, section

ROLES = ("actor", "critic")
ROLE_FIELDS = {
    "optim_spec": section(OPTIM_SPEC_SCHEMA),
    "lr_scheduler_spec": section(LR_SCHEDULER_SCHEMA),
    "clip_grad_val": real(None, 0.0, low_open=True, nullable=True),
    "arc": mapping(),
    "hid_layers": Field(
        None, "int_list", "a list of positive ints", lambda v: all(x > 0 for x in v), nullable=True
    ),
}
# agent.net of an on-policy algorithm: NET_SCHEMA and the actor_ / critic_ forms of ROLE_FIELDS.
ON_POLICY_NET_SCHEMA = {
    **NET_SCHEMA,
    **{f"{role}_{key}": f for role in ROLES for key, f in ROLE_FIELDS.items()},
}
# agent.memory: SLM Lab's on-policy memory; an OnPolicyBatchReplay batch is training_frequency vector steps.
MEMORY_SCHEMA = {"name": choice("OnPolicyBatchReplay", "OnPolicyBatchReplay", "OnPolicyReplay")}
# SLM Lab's keys of every policy-gradient algorithm (PPO, ActorCritic, Reinforce).
POLICY_KEYS = {
    "action_pdtype": choice("default", "default", "Categorical", "Normal"),
    "action_policy": choice("default", "default"),
    "explore_var_spec": optional_schedule(0.0),  # unused by policy-gradient algorithms (SLM Lab's too)
}


def agent_schema(algorithm_schema: dict) -> dict:
    """The agent sections of a policy-gradient algorithm with `algorithm_schema`."""
    return {"algorithm": algorithm_schema, "net": ON_POLICY_NET_SCHEMA, "memory": MEMORY_SCHEMA}


def role_spec(net_spec: dict, role: str) -> dict:
    """The net section of one network, `actor` or `critic`: `{role}_X` keys in place of X."""
    if role == "critic" and net_spec["use_same_optim"]:
        role = "actor"
    resolved = {key: value for key, value in net_spec.items() if not key.startswith(("actor_", "critic_"))}
    for key in ROLE_FIELDS:
        if net_spec[f"{role}_{key}"] is not None:
            resolved[key] = net_spec[f"{role}_{key}"]
    resolved["actor_init_std"], resolved["critic_init_std"] = (
        net_spec["actor_init_std"],
        net_spec["critic_init_std"],
    )
    return resolved


def check_pdtype(spec: dict, env: EnvDescription) -> None:
    """An action_pdtype that fits the env's actions."""
    pdtype = spec["agent"]["algorithm"]["action_pdtype"]
    want = "Categorical" if env.discrete else "Normal"
    if pdtype not in ("default", want):
        raise SpecError(
            f"agent.algorithm.action_pdtype = {pdtype} does not fit {env.name}'s"
            f" {'discrete' if env.discrete else 'continuous'} actions — use default or {want}"
        )


def check_memory(spec: dict, env: EnvDescription) -> None:
    if spec["agent"]["memory"]["name"] == "OnPolicyReplay":
        raise SpecError(
            "agent.memory.name = OnPolicyReplay trains on whole episodes, which jaxlab's fixed-length"
            " rollouts"
            " do not do — use OnPolicyBatchReplay (training_frequency in vector steps)"
        )


@struct.dataclass
class NetHParams:
    """Each network's lr and gradient-clip norm, by network name (arrays: search trials vmap them)."""

    lr: dict
    max_grad_norm: dict


def make_nets(net_spec: dict, env: VecEnv, with_critic: bool = True) -> tuple[Any, Any]:
    """(policy_net, critic_net) from `agent.net`: an ActorCriticNet and None when `shared`, a PolicyNet
    and a ValueNet otherwise, a PolicyNet and None without a critic."""
    actor = role_spec(net_spec, "actor")
    discrete = {"num_actions": env.num_actions, "action_dim": env.action_dim}
    if with_critic and net_spec["shared"]:
        body = make_body(actor, env.obs_shape)
        return ActorCriticNet(
            body, **discrete, actor_init_std=actor["actor_init_std"], critic_init_std=actor["critic_init_std"]
        ), None
    policy = PolicyNet(
        make_body(actor, env.obs_shape),
        **discrete,
        log_std_init=actor["log_std_init"],
        actor_init_std=actor["actor_init_std"],
    )
    if not with_critic:
        return policy, None
    critic = role_spec(net_spec, "critic")
    return policy, ValueNet(make_body(critic, env.obs_shape), critic_init_std=critic["critic_init_std"])


def net_settings(
    static_nets: dict, net_spec: dict, grad_steps_per_update: int, frames_per_training: int, max_frame: int
) -> tuple[tuple, NetHParams]:
    """The optimiser settings and hyperparameters of each network in `static_nets` (name -> role)."""
    optims, lrs, clips = [], {}, {}
    for name, role in static_nets.items():
        spec = role_spec(net_spec, role)
        where = f"agent.net.{role}_optim_spec" if net_spec[f"{role}_optim_spec"] else "agent.net.optim_spec"
        optims.append(
            (
                name,
                OptimSettings.from_spec(
                    spec, spec["optim_spec"], grad_steps_per_update, frames_per_training, max_frame
                ),
            )
        )
        lrs[name] = jnp.asarray(spec_lr(spec["optim_spec"], where), jnp.float32)
        clips[name] = jnp.asarray(spec["clip_grad_val"] or 0.0, jnp.float32)
    return tuple(optims), NetHParams(lrs, clips)


def network_roles(net_spec: dict, with_critic: bool) -> dict:
    """{network name: role} of the networks an on-policy algorithm trains."""
    if not with_critic or net_spec["shared"]:
        return {"net": "actor"}
    return {"net": "actor", "critic_net": "critic"}
