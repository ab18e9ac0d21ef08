"""PyTorch mirrors of `jaxlab.algos.networks`, loading the `state_dict` that `flax_to_state_dict` writes.

State_dict keys (all at the top level of each network module, no nesting):
    obs_norm.mean, obs_norm.var      [*obs_shape]        only when built with normalize_obs=True
    conv.{i}.weight [O, I, k, k], conv.{i}.bias [O]      ConvNet only
    body.{i}.weight [out, in], body.{i}.bias [out]
    policy_head.weight, policy_head.bias                 PolicyNet, ActorCriticNet
    value_head.weight [1, in], value_head.bias [1]       ValueNet, ActorCriticNet, DuelingQNet
    q_head.weight [A, in], q_head.bias [A]               QNet
    advantage_head.weight [A, in], advantage_head.bias   DuelingQNet
    log_std [D]                                          continuous PolicyNet, ActorCriticNet
    policy_head.weight [2D, in], policy_head.bias [2D]   SquashedGaussianPolicyNet (means, then log-stds)
    q_head.weight [1, in], q_head.bias [1]               StateActionQNet (its body reads [obs, action])

Observations come in as in JAX, [.., *obs_shape] float32, images NHWC [.., H, W, C].
Imports torch and numpy only, so a deployment machine needs no JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# Same constants as jaxlab.envs.wrappers.normalize_obs (not imported: that module imports JAX).
NORM_EPS = 1e-8
NORM_CLIP = 10.0

# Defaults match flax.linen: leaky_relu slope 0.01, elu alpha 1.0; selu constants are the standard ones.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
}


class ObsNorm(nn.Module):
    """Fixed obs normalisation: clip((obs - mean) / sqrt(var + 1e-8), -10, 10); obs [.., *obs_shape]."""

    def __init__(self, obs_shape: Sequence[int]):
        super().__init__()
        # Identity statistics until a state_dict overwrites them.
        self.register_buffer("mean", torch.zeros(tuple(obs_shape), dtype=torch.float32))
        self.register_buffer("var", torch.ones(tuple(obs_shape), dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.clamp((obs - self.mean) / torch.sqrt(self.var + NORM_EPS), -NORM_CLIP, NORM_CLIP)


class Trunk(nn.Module):
    """Optional obs normalisation, conv layers (VALID padding, activation after each), then dense hidden
    layers. Subclasses add heads beside `conv`/`body` so the state_dict keys stay flat."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        hid_layers: Sequence[int],
        activation: str,
        conv_layers: Sequence[Sequence[int]] = (),
        normalize_obs: bool = False,
    ):
        super().__init__()
        self.obs_shape = tuple(int(d) for d in obs_shape)
        if len(self.obs_shape) not in (1, 3):
            raise ValueError(
                f"observation shape {list(self.obs_shape)} is not supported (vectors or [H, W, C] images)"
            )
        if conv_layers and len(self.obs_shape) != 3:
            raise ValueError(
                f"conv layers need [H, W, C] image observations, not shape {list(self.obs_shape)}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        self.obs_norm = ObsNorm(self.obs_shape) if normalize_obs else None
        self.act = ACTIVATIONS[activation]()
        self.conv = nn.ModuleList()
        features = self.obs_shape[-1]
        if len(self.obs_shape) == 3:
            height, width, channels = self.obs_shape
            for out_channels, kernel, stride in conv_layers:
                self.conv.append(nn.Conv2d(channels, out_channels, kernel, stride))
                height, width = (height - kernel) // stride + 1, (width - kernel) // stride + 1
                channels = out_channels
            features = channels * height * width
        self.body = nn.ModuleList()
        for hidden in hid_layers:
            self.body.append(nn.Linear(features, hidden))
            features = hidden
        self.out_features = features

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """[.., *obs_shape] -> [.., out_features]; any number of leading dims, including none."""
        obs = obs.to(torch.float32)
        lead = obs.shape[: obs.dim() - len(self.obs_shape)]
        x = obs.reshape(-1, *self.obs_shape)
        if self.obs_norm is not None:
            x = self.obs_norm(x)
        if len(self.obs_shape) == 3:
            # NHWC (as in JAX) -> NCHW for Conv2d; flattening NCHW matches the flax Body's C,H,W flatten.
            x = x.permute(0, 3, 1, 2)
            for conv in self.conv:
                x = self.act(conv(x))
            x = x.flatten(1)
        for linear in self.body:
            x = self.act(linear(x))
        return x.reshape(*lead, x.shape[-1])


class PolicyNet(Trunk):
    """forward(obs [.., *obs_shape]) -> logits [.., A] (discrete), or (mean [.., D], log_std [D])."""

    def __init__(self, num_actions: int | None, action_dim: int | None, log_std_init: float = 0.0, **trunk):
        super().__init__(**trunk)
        self.discrete = bool(num_actions)
        self.policy_head = nn.Linear(self.out_features, num_actions or action_dim)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor):
        head = self.policy_head(self.features(obs))
        return head if self.discrete else (head, self.log_std)


class ValueNet(Trunk):
    """forward(obs [.., *obs_shape]) -> V(s) [..]."""

    def __init__(self, **trunk):
        super().__init__(**trunk)
        self.value_head = nn.Linear(self.out_features, 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value_head(self.features(obs))[..., 0]


class ActorCriticNet(Trunk):
    """forward(obs) -> (policy output as in PolicyNet, value [..]) from one shared trunk."""

    def __init__(self, num_actions: int | None, action_dim: int | None, log_std_init: float = 0.0, **trunk):
        super().__init__(**trunk)
        self.discrete = bool(num_actions)
        self.policy_head = nn.Linear(self.out_features, num_actions or action_dim)
        self.value_head = nn.Linear(self.out_features, 1)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor):
        x = self.features(obs)
        head, value = self.policy_head(x), self.value_head(x)[..., 0]
        return (head if self.discrete else (head, self.log_std)), value


class QNet(Trunk):
    """forward(obs [.., *obs_shape]) -> Q values [.., A] (DQN family)."""

    def __init__(self, num_actions: int, **trunk):
        super().__init__(**trunk)
        self.q_head = nn.Linear(self.out_features, num_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_head(self.features(obs))


class DuelingQNet(Trunk):
    """forward(obs [.., *obs_shape]) -> Q values [.., A] = V(s) + A(s, a) - mean_a A(s, a)."""

    def __init__(self, num_actions: int, **trunk):
        super().__init__(**trunk)
        self.value_head = nn.Linear(self.out_features, 1)
        self.advantage_head = nn.Linear(self.out_features, num_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = self.features(obs)
        advantage = self.advantage_head(x)
        return self.value_head(x) + advantage - advantage.mean(-1, keepdim=True)


# Same clip as jaxlab.algos.networks.LOG_STD_MIN/MAX (not imported: that module imports JAX).
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class SquashedGaussianPolicyNet(Trunk):
    """SAC's continuous actor: forward(obs [.., *obs_shape]) -> (mean [.., D], log_std [.., D]) of the
    Gaussian before the tanh squashing; log_std clipped to [LOG_STD_MIN, LOG_STD_MAX]."""

    def __init__(self, action_dim: int, **trunk):
        super().__init__(**trunk)
        self.policy_head = nn.Linear(self.out_features, 2 * action_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.policy_head(self.features(obs)).chunk(2, dim=-1)
        return mean, torch.clamp(log_std, LOG_STD_MIN, LOG_STD_MAX)


class StateActionQNet(Trunk):
    """SAC's continuous critic: forward(obs [.., *obs_shape], action [.., D]) -> Q(s, a) [..]. The body reads
    the (normalised) observation and the action concatenated."""

    def __init__(self, action_dim: int, obs_shape: Sequence[int], normalize_obs: bool = False, **trunk):
        obs_shape = tuple(int(d) for d in obs_shape)
        if len(obs_shape) != 1:
            raise ValueError(f"a Q(s, a) critic needs vector observations, not shape {list(obs_shape)}")
        super().__init__(obs_shape=(obs_shape[0] + action_dim,), **trunk)
        # Set after Trunk's init (which has no obs_norm here): the statistics are of the observation alone.
        self.obs_norm = ObsNorm(obs_shape) if normalize_obs else None
        self.q_head = nn.Linear(self.out_features, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        obs = obs.to(torch.float32)
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        return self.q_head(self.features(torch.cat([obs, action.to(torch.float32)], dim=-1)))[..., 0]


# The torch twin of each Flax network class of `jaxlab.algos.networks`, by class name.
MODULES = {
    module.__name__: module
    for module in (
        PolicyNet,
        ValueNet,
        ActorCriticNet,
        QNet,
        DuelingQNet,
        SquashedGaussianPolicyNet,
        StateActionQNet,
    )
}


def build_network(description: dict, obs_shape: Sequence[int], normalize_obs: bool = False) -> Trunk:
    """The torch module of one exported network from its description in the trial spec (`meta.networks`:
    the Flax module's class and fields, written by the run): the same class name here, the body's layers as
    its trunk, the other fields as its heads' arguments."""
    module = MODULES.get(description.get("module"))
    if module is None:
        raise ValueError(
            f"unknown network module {description.get('module')!r}; jaxlab.export has {', '.join(MODULES)}"
        )
    body = description["body"]
    trunk = {
        "obs_shape": tuple(obs_shape),
        "hid_layers": tuple(body["hid_layers"]),
        "activation": body["activation"],
        "conv_layers": tuple(tuple(int(v) for v in layer) for layer in body["conv_layers"]),
        "normalize_obs": normalize_obs,
    }
    heads = {key: value for key, value in description.items() if key not in ("module", "body")}
    return module(**heads, **trunk)
