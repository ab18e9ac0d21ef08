"""Flax linen networks: a body of layers (`layers.py`) and SLM Lab's output tails. Every parameter is named
by its PyTorch `state_dict` key in SLM Lab's net classes (`model.0`, `body.body.2`, `tails.0`, `tails.1.0`,
`log_std`, `v`, `adv`), so export only transposes.

Initialisation follows SLM Lab (`net_util.init_layers`): with no `init_fn`, PyTorch's default (weights and
biases uniform in +-1/sqrt(fan_in)); with one, that function on every Linear/Conv weight, tails included,
with the gain of `hid_layers_activation` (`torch.nn.init.calculate_gain`), and zero biases.
`actor_init_std` / `critic_init_std` re-initialise the policy / value tails orthogonally with that gain
(what SLM Lab's `init_tails` does; its ActorCritic renames the keys before they arrive, so there they have
no effect).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxlab.algos.layers import ACTIVATION_NAMES, activation, net_layers
from jaxlab.algos.losses import LOSS_SCHEMA
from jaxlab.algos.optim import OPTIM_SCHEMA
from jaxlab.schema import Field, anything, choice, flag, mapping, real

ACTIVATIONS = {
    "ReLU": nn.relu,
    "Tanh": jnp.tanh,
    "SELU": nn.selu,
    "SiLU": nn.silu,
    "ELU": nn.elu,
    "LeakyReLU": lambda x: nn.leaky_relu(x, 0.01),  # PyTorch's default slope
    "Sigmoid": nn.sigmoid,
    "GELU": functools.partial(nn.gelu, approximate=False),  # PyTorch's default is the exact erf form
    "Softplus": nn.softplus,
    "Mish": lambda x: x * jnp.tanh(nn.softplus(x)),
    "Identity": lambda x: x,
}
# torch.nn.init.calculate_gain; PyTorch has no gain for the others and SLM Lab would stop: 1 here.
GAINS = {"ReLU": math.sqrt(2.0), "Tanh": 5.0 / 3.0, "SELU": 0.75, "LeakyReLU": math.sqrt(2.0 / (1 + 0.01**2))}
INIT_FNS = ("orthogonal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")
NET_TYPES = ("MLPNet", "ConvNet", "TorchArcNet")

# `agent.net`: SLM Lab's MLPNet / ConvNet / TorchArcNet keys (`layers.py` reads the body's) and the
# optimiser's. SLM Lab's defaults: no init_fn (PyTorch's), no clipping, MSELoss.
NET_SCHEMA = {
    "type": choice("MLPNet", *NET_TYPES),
    "shared": flag(False),
    "hid_layers": Field([64, 64], "int_list", "a list of positive ints", lambda v: all(x > 0 for x in v)),
    "hid_layers_activation": choice("relu", *ACTIVATION_NAMES),
    "out_layer_activation": Field(None, "str", nullable=True),  # refused when set (layers.py)
    "layer_norm": flag(False),
    "batch_norm": flag(False),
    "conv_hid_layers": Field(
        [[16, 3, 1]],
        "conv_layers",
        "a list of [out_channels, kernel_size, stride(, padding, dilation)] of whole numbers",
    ),
    "fc_hid_layers": Field([], "int_list", "a list of positive ints", lambda v: all(x > 0 for x in v)),
    "arc": mapping(),  # TorchArcNet: torcharc's {modules, graph}
    "normalize": flag(False),  # divide the input by 255 (image pixels)
    "init_fn": Field(None, "str", choices=INIT_FNS, nullable=True),
    "actor_init_std": real(None, 0.0, nullable=True),
    "critic_init_std": real(None, 0.0, nullable=True),
    "log_std_init": real(None, -20.0, 2.0, nullable=True),
    "use_same_optim": flag(False),
    "loss_spec": LOSS_SCHEMA,
    "gpu": anything(),
    **OPTIM_SCHEMA,
}
# SLM Lab clamps the log-std of its Gaussian policies to this range before exp (`policy_util`).
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def body_schema(**changes) -> dict:
    """NET_SCHEMA without the actor-critic keys, with `changes`: the net section of algorithms whose networks
    are Q functions, or an actor and critics apart."""
    dropped = ("shared", "log_std_init", "actor_init_std", "critic_init_std", "use_same_optim")
    return {**{key: value for key, value in NET_SCHEMA.items() if key not in dropped}, **changes}


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


def _uniform(bound: float) -> nn.initializers.Initializer:
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def initializers(init_fn: str | None, activation: str, fan_in: int, fan_out: int, gain: float | None = None):
    """(kernel_init, bias_init) of one layer, as SLM Lab initialises it (see the module's docstring);
    `gain` set: orthogonal with that gain and a zero bias (a tail's actor_init_std / critic_init_std)."""
    zeros = nn.initializers.zeros
    if gain is not None:
        return orthogonal(gain), zeros
    if init_fn is None:  # PyTorch's Linear / Conv2d reset_parameters
        return _uniform(1.0 / math.sqrt(fan_in)), _uniform(1.0 / math.sqrt(fan_in))
    act_gain = GAINS.get(activation, 1.0)
    if init_fn == "orthogonal_":
        return orthogonal(act_gain), zeros
    if init_fn == "xavier_uniform_":
        return _uniform(act_gain * math.sqrt(6.0 / (fan_in + fan_out))), zeros
    if init_fn == "xavier_normal_":
        return nn.initializers.normal(act_gain * math.sqrt(2.0 / (fan_in + fan_out))), zeros
    kaiming_gain = math.sqrt(2.0)  # SLM Lab allows kaiming with relu / leaky_relu (slope 0) only
    if init_fn == "kaiming_uniform_":
        return _uniform(kaiming_gain * math.sqrt(3.0 / fan_in)), zeros
    return nn.initializers.normal(kaiming_gain / math.sqrt(fan_in)), zeros


def _flatten_image(x: jax.Array) -> jax.Array:
    """[.., H, W, C] -> [.., C * H * W] in PyTorch's NCHW order, so the exported module flattens the same."""
    x = jnp.moveaxis(x, -1, -3)
    return x.reshape(*x.shape[:-3], -1)


class Body(nn.Module):
    """The layers of `layers.py` on observations [.., *obs_shape] (images NHWC). An image meets a Linear
    layer flattened, and the output is flattened if still an image (as TorchArcNet does)."""

    layers: Sequence[Sequence]
    init_fn: str | None
    activation: str  # hid_layers_activation as PyTorch names it: the gain of init_fn
    obs_rank: int = 1  # 1 for vector observations, 3 for images [H, W, C]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        image = self.obs_rank == 3
        for op, name, *args in self.layers:
            if op == "linear":
                if image:
                    x, image = _flatten_image(x), False
                x = dense(x, args[0], name, self)
            elif op == "conv":
                out, kernel, stride, padding, dilation = args
                fan_in, fan_out = x.shape[-1] * kernel * kernel, out * kernel * kernel
                kernel_init, bias_init = initializers(self.init_fn, self.activation, fan_in, fan_out)
                x = nn.Conv(
                    out,
                    (kernel, kernel),
                    (stride, stride),
                    [(padding, padding)] * 2,
                    kernel_dilation=(dilation, dilation),
                    kernel_init=kernel_init,
                    bias_init=bias_init,
                    name=name,
                )(x)
            elif op == "layernorm":
                x = nn.LayerNorm(epsilon=1e-5, name=name)(x)  # PyTorch's eps
            elif op == "flatten":
                x, image = _flatten_image(x), False
            elif op == "scale":
                x = x * args[0]
            else:
                x = ACTIVATIONS[args[0]](x)
        return _flatten_image(x) if image else x


def dense(x: jax.Array, width: int, name: str, body: Body, gain: float | None = None) -> jax.Array:
    """A Linear layer named `name`, initialised as `body`'s layers are (or orthogonally with `gain`)."""
    kernel_init, bias_init = initializers(body.init_fn, body.activation, x.shape[-1], width, gain)
    return nn.Dense(width, kernel_init=kernel_init, bias_init=bias_init, name=name)(x)


def gaussian_tails(module: nn.Module, x: jax.Array, names: tuple[str, str], gain: float | None):
    """(mean, log_std [.., D]) from the features: one tail of 2 outputs for a 1-D action (SLM Lab's [loc,
    scale]), else a tail each; log_std clamped to [LOG_STD_MIN, LOG_STD_MAX]."""
    dim = module.action_dim
    if dim == 1:
        out = dense(x, 2, names[0], module.body, gain)
        mean, log_std = out[..., :1], out[..., 1:]
    else:
        mean = dense(x, dim, f"{names[0]}.0", module.body, gain)
        log_std = dense(x, dim, f"{names[1]}.0", module.body, gain)
    return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class PolicyNet(nn.Module):
    """A policy alone: logits [.., A] (`tails.0`), or (mean, log_std) of a Gaussian (`gaussian_tails`; with
    `log_std_init` and a multi-dimensional action, the mean's tail and a state-independent `log_std` [D])."""

    body: Body
    num_actions: int | None  # discrete
    action_dim: int | None  # continuous
    log_std_init: float | None = None
    actor_init_std: float | None = None

    @nn.compact
    def __call__(self, obs: jax.Array):
        x = self.body(obs)
        if self.num_actions:
            return dense(x, self.num_actions, "tails.0", self.body, self.actor_init_std)
        if self.log_std_init is None or self.action_dim == 1:
            return gaussian_tails(self, x, ("tails.0", "tails.1"), self.actor_init_std)
        mean = dense(x, self.action_dim, "tails.0", self.body, self.actor_init_std)
        log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (self.action_dim,))
        return mean, jnp.broadcast_to(jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX), mean.shape)


class ValueNet(nn.Module):
    """State value V(s) [..] (`tails.0`)."""

    body: Body
    critic_init_std: float | None = None

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return dense(self.body(obs), 1, "tails.0", self.body, self.critic_init_std)[..., 0]


class ActorCriticNet(nn.Module):
    """One body with policy and value tails (SLM Lab's shared net): (policy output, value [..]). Tails:
    discrete `tails.0.0` logits; continuous `tails.0.0` [loc, scale] for a 1-D action, else `tails.0.0`
    means and `tails.1.0` log-stds; then the value's."""

    body: Body
    num_actions: int | None
    action_dim: int | None
    actor_init_std: float | None = None
    critic_init_std: float | None = None

    @nn.compact
    def __call__(self, obs: jax.Array):
        x = self.body(obs)
        if self.num_actions:
            policy_out, value_tail = (
                dense(x, self.num_actions, "tails.0.0", self.body, self.actor_init_std),
                1,
            )
        elif self.action_dim == 1:
            out = dense(x, 2, "tails.0.0", self.body, self.actor_init_std)
            policy_out, value_tail = (out[..., :1], jnp.clip(out[..., 1:], LOG_STD_MIN, LOG_STD_MAX)), 1
        else:
            policy_out, value_tail = gaussian_tails(self, x, ("tails.0", "tails.1"), self.actor_init_std), 2
        value = dense(x, 1, f"tails.{value_tail}.0", self.body, self.critic_init_std)[..., 0]
        return policy_out, value


class QNet(nn.Module):
    """Action values Q(s, .) [.., A] (`tails.0`: SLM Lab's MLPNet / ConvNet / TorchArcNet in the DQN
    family)."""

    body: Body
    num_actions: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return dense(self.body(obs), self.num_actions, "tails.0", self.body)


class DuelingQNet(nn.Module):
    """Dueling action values (Wang et al. 2016; SLM Lab's DuelingMLPNet / DuelingConvNet, tails `v` and
    `adv`): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a') [.., A]; the mean makes V and A identifiable."""

    body: Body
    num_actions: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = self.body(obs)
        value = dense(x, 1, "v", self.body)
        advantage = dense(x, self.num_actions, "adv", self.body)
        return value + advantage - advantage.mean(-1, keepdims=True)


class SquashedGaussianPolicyNet(nn.Module):
    """SAC's continuous actor: (mean [.., D], log_std [.., D]) of the Gaussian that tanh then squashes, both
    from the state (`gaussian_tails`)."""

    body: Body
    action_dim: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        return gaussian_tails(self, self.body(obs), ("tails.0", "tails.1"), None)


class StateActionQNet(nn.Module):
    """Q(s, a) [..] for continuous actions a [.., D] (`tails.0`): the body reads [observation, action]."""

    body: Body
    action_dim: int  # D (the body's input is obs_dim + D wide)

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = self.body(jnp.concatenate([obs, action], axis=-1))
        return dense(x, 1, "tails.0", self.body)[..., 0]


def make_body(net_spec: dict, obs_shape: tuple[int, ...], where: str = "agent.net") -> Body:
    """The body of a validated net section."""
    return Body(
        layers=tuple(tuple(layer) for layer in net_layers(net_spec, where)),
        init_fn=net_spec["init_fn"],
        activation=activation(net_spec["hid_layers_activation"], f"{where}.hid_layers_activation"),
        obs_rank=len(obs_shape),
    )
