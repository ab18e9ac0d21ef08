"""Flax linen networks. Layer names map one-to-one onto PyTorch `state_dict` keys at export:
`body_{i}` -> `body.{i}`, `conv_{i}` -> `conv.{i}`, `policy_head`, `value_head`, `log_std`, `q_head`,
`advantage_head`."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxlab.algos.optim import OPTIM_SCHEMA
from jaxlab.schema import Field, choice, flag, real

ACTIVATIONS = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "elu": nn.elu,
    "leaky_relu": nn.leaky_relu,
    "selu": nn.selu,
    "sigmoid": nn.sigmoid,
    "silu": nn.silu,
}


INIT_FNS = ("orthogonal_", "xavier_uniform_", "kaiming_uniform_")

# `agent.net` of SLM Lab's MLPNet / ConvNet: the body every network is built on (make_body), its optimiser.
NET_SCHEMA = {
    "type": choice("MLPNet", "MLPNet", "ConvNet"),
    "shared": flag(False),
    "hid_layers": Field([64, 64], "int_list", "a list of positive ints", lambda v: all(x > 0 for x in v)),
    "conv_hid_layers": Field(
        [[16, 3, 1]], "conv_layers", "a list of [out_channels, kernel_size, stride] with positive ints"
    ),
    "hid_layers_activation": choice("tanh", *ACTIVATIONS),
    "init_fn": choice("orthogonal_", *INIT_FNS),
    "log_std_init": real(0.0, -20.0, 2.0),
    **OPTIM_SCHEMA,
}


def body_schema(**changes) -> dict:
    """NET_SCHEMA without the policy-gradient keys (`shared`, `log_std_init`), with `changes`: the net section
    of algorithms whose networks are Q functions or a separate actor and critics."""
    kept = {key: value for key, value in NET_SCHEMA.items() if key not in ("shared", "log_std_init")}
    return {**kept, **changes}


def describe(module: nn.Module) -> dict:
    """A network as plain JSON, for export to rebuild: its class name and its fields (the body's nested)."""
    out = {"module": type(module).__name__}
    for name in module.__dataclass_fields__:
        if name in ("parent", "name"):
            continue
        value = getattr(module, name)
        out[name] = describe(value) if isinstance(value, nn.Module) else _plain(value)
    return out


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def householder_q(matrix: jax.Array) -> jax.Array:
    """The Q of matrix = QR [m, n], m >= n, with diag(R) > 0 (so Q of a Gaussian matrix is Haar-distributed).

    Written with plain JAX ops on purpose: the LAPACK QR behind `jnp.linalg.qr`, batched by vmap over
    sessions, blocks XLA:CPU worker threads on tasks queued behind them and can deadlock a run."""
    rows, cols = matrix.shape
    index = jnp.arange(rows)

    def reflect(j, carry):
        q, r = carry
        x = jnp.where(index >= j, r[:, j], 0.0)
        alpha = -jnp.where(x[j] >= 0, 1.0, -1.0) * jnp.linalg.norm(x)
        v = x.at[j].add(-alpha)
        v = v / jnp.maximum(jnp.linalg.norm(v), 1e-30)
        return q - 2.0 * jnp.outer(q @ v, v), r - 2.0 * jnp.outer(v, v @ r)

    q, r = jax.lax.fori_loop(0, cols, reflect, (jnp.eye(rows, dtype=matrix.dtype), matrix))
    return q[:, :cols] * jnp.sign(jnp.diagonal(r))[None, :]


def orthogonal(scale: float) -> nn.initializers.Initializer:
    """Orthogonal initialiser (torch.nn.init.orthogonal_) over all but the last kernel axis."""

    def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
        fan_in, fan_out = int(np.prod(shape[:-1])), shape[-1]
        tall = (max(fan_in, fan_out), min(fan_in, fan_out))
        q = householder_q(jax.random.normal(key, tall, jnp.float32))
        q = q if fan_in >= fan_out else q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


def kernel_init(init_fn: str, scale: float) -> nn.initializers.Initializer:
    """PyTorch-named initialisers; `scale` is the orthogonal gain (sqrt(2) hidden, 0.01 policy, 1 value)."""
    if init_fn == "orthogonal_":
        return orthogonal(scale)
    if init_fn == "xavier_uniform_":
        return nn.initializers.xavier_uniform()
    return nn.initializers.kaiming_uniform()


class Body(nn.Module):
    """Optional conv layers (NHWC, VALID padding) then dense hidden layers. Without conv layers,
    image observations are flattened (in NCHW order, like the conv output) into the dense layers."""

    hid_layers: Sequence[int]
    activation: str
    init_fn: str
    obs_rank: int = 1  # 1 for vector observations, 3 for images [H, W, C]
    conv_layers: Sequence[Sequence[int]] = ()  # [out_channels, kernel_size, stride]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        init = kernel_init(self.init_fn, np.sqrt(2))
        for i, (channels, kernel, stride) in enumerate(self.conv_layers):
            x = act(
                nn.Conv(
                    channels, (kernel, kernel), (stride, stride), "VALID", kernel_init=init, name=f"conv_{i}"
                )(x)
            )
        if self.obs_rank == 3:
            # Flatten in NCHW order so the exported torch module can use nn.Flatten unchanged.
            x = jnp.transpose(x, (*range(x.ndim - 3), x.ndim - 1, x.ndim - 3, x.ndim - 2))
            x = x.reshape(*x.shape[:-3], -1)
        for i, width in enumerate(self.hid_layers):
            x = act(nn.Dense(width, kernel_init=init, name=f"body_{i}")(x))
        return x


def policy_output(module: nn.Module, features: jax.Array):
    """The policy head of `module` (which has `num_actions`, `action_dim`, `log_std_init`, `body`) on
    `features`: logits, or (mean, log_std). Called inside the module's compact `__call__`."""
    out = module.num_actions or module.action_dim
    head = nn.Dense(out, kernel_init=kernel_init(module.body.init_fn, 0.01), name="policy_head")(features)
    if module.num_actions:
        return head
    log_std = module.param("log_std", nn.initializers.constant(module.log_std_init), (module.action_dim,))
    return head, log_std


class PolicyNet(nn.Module):
    """Policy: logits [.., A] for discrete actions, or (mean [.., D], log_std [D]) for continuous ones."""

    body: Body
    num_actions: int | None  # discrete
    action_dim: int | None  # continuous
    log_std_init: float = 0.0

    @nn.compact
    def __call__(self, obs: jax.Array):
        return policy_output(self, self.body(obs))


class ValueNet(nn.Module):
    """State value V(s) [..]."""

    body: Body

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = self.body(obs)
        return nn.Dense(1, kernel_init=kernel_init(self.body.init_fn, 1.0), name="value_head")(x)[..., 0]


class ActorCriticNet(nn.Module):
    """Shared body with a policy head and a value head; returns (policy output, value)."""

    body: Body
    num_actions: int | None
    action_dim: int | None
    log_std_init: float = 0.0

    @nn.compact
    def __call__(self, obs: jax.Array):
        x = self.body(obs)
        value = nn.Dense(1, kernel_init=kernel_init(self.body.init_fn, 1.0), name="value_head")(x)[..., 0]
        return policy_output(self, x), value


class QNet(nn.Module):
    """Action values Q(s, .) [.., A] (SLM Lab's MLPNet / ConvNet in the DQN family)."""

    body: Body
    num_actions: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = self.body(obs)
        return nn.Dense(self.num_actions, kernel_init=kernel_init(self.body.init_fn, 1.0), name="q_head")(x)


class DuelingQNet(nn.Module):
    """Dueling action values (Wang et al. 2016; SLM Lab's DuelingMLPNet / DuelingConvNet):
    Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a') [.., A]; subtracting the mean makes V and A identifiable."""

    body: Body
    num_actions: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = self.body(obs)
        init = kernel_init(self.body.init_fn, 1.0)
        value = nn.Dense(1, kernel_init=init, name="value_head")(x)
        advantage = nn.Dense(self.num_actions, kernel_init=init, name="advantage_head")(x)
        return value + advantage - advantage.mean(-1, keepdims=True)


# SAC's state-dependent log-std is clipped to this range (as SB3 and SpinningUp do): std from 2e-9 to 7.4.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class SquashedGaussianPolicyNet(nn.Module):
    """SAC's continuous actor: (mean [.., D], log_std [.., D]) of the Gaussian that tanh then squashes, both
    from the state; one `policy_head` of 2D outputs, means first; log_std clipped to [LOG_STD_MIN,
    LOG_STD_MAX]."""

    body: Body
    action_dim: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = self.body(obs)
        head = nn.Dense(
            2 * self.action_dim, kernel_init=kernel_init(self.body.init_fn, 0.01), name="policy_head"
        )(x)
        mean, log_std = jnp.split(head, 2, axis=-1)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class StateActionQNet(nn.Module):
    """Q(s, a) [..] for continuous actions a [.., D]: the body reads [observation, action] concatenated."""

    body: Body
    action_dim: int  # D (the body's input is obs_dim + D wide)

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = self.body(jnp.concatenate([obs, action], axis=-1))
        return nn.Dense(1, kernel_init=kernel_init(self.body.init_fn, 1.0), name="q_head")(x)[..., 0]


def make_body(net_spec: dict, obs_shape: tuple[int, ...]) -> Body:
    return Body(
        hid_layers=tuple(net_spec["hid_layers"]),
        activation=net_spec["hid_layers_activation"],
        init_fn=net_spec["init_fn"],
        obs_rank=len(obs_shape),
        conv_layers=(
            tuple(tuple(layer) for layer in net_spec["conv_hid_layers"])
            if net_spec["type"].endswith("ConvNet")
            else ()
        ),
    )
