"""PyTorch mirrors of `jaxlab.algos.networks`, loading the `state_dict` that `flax_to_state_dict` writes.

A network's `state_dict` keys are those of SLM Lab's net class for the same spec: the body's layers by their
place in SLM Lab's Sequential (MLPNet `model.{i}`, ConvNet `conv_model.{i}` / `fc_model.{i}`, TorchArcNet
`body.{module}.{i}`, DuelingMLPNet `model_body.{i}`), then the tails:
    tails.0                      logits [A, in], a value [1, in], Q values [A, in], or a 1-D action's
                                 [loc, log_std] [2, in]
    tails.0.0, tails.1.0         a multi-dimensional action's means and log-stds (separate tails)
    tails.0 + log_std [D]        a multi-dimensional action's means and a state-independent log-std
    tails.{0,1}.0 / tails.2.0    a shared net's policy tails, then its value tail
    v, adv                       a dueling Q net's value and advantage tails
    obs_norm.mean, obs_norm.var  the observation statistics (only with env.normalize_obs; jaxlab's own)
Observations come in as in JAX, [.., *obs_shape] float32, images NHWC [.., H, W, C]. Imports torch and
numpy only, so a deployment machine needs no JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# Same constants as jaxlab.envs.wrappers and jaxlab.algos.networks (not imported: those modules import JAX).
NORM_EPS = 1e-8
NORM_CLIP = 10.0
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

ACTIVATIONS: dict[str, type[nn.Module]] = {
    name: getattr(nn, name)
    for name in (
        "ReLU",
        "Tanh",
        "SELU",
        "SiLU",
        "ELU",
        "LeakyReLU",
        "Sigmoid",
        "GELU",
        "Softplus",
        "Mish",
        "Identity",
    )
}


def obs_clip(env_spec: dict) -> float | None:
    """The observation clip of a run's env section, as jaxlab.envs.obs_clip reads it."""
    if env_spec.get("clip_obs") is not None:
        return float(env_spec["clip_obs"])
    return NORM_CLIP if env_spec.get("normalize_obs") else None


class ObsNorm(nn.Module):
    """Fixed obs normalisation: (obs - mean) / sqrt(var + 1e-8); obs [.., *obs_shape]."""

    def __init__(self, obs_shape: Sequence[int]):
        super().__init__()
        # Identity statistics until a state_dict overwrites them.
        self.register_buffer("mean", torch.zeros(tuple(obs_shape), dtype=torch.float32))
        self.register_buffer("var", torch.ones(tuple(obs_shape), dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.mean) / torch.sqrt(self.var + NORM_EPS)


def _attach(root: nn.Module, dotted: str, module: nn.Module) -> None:
    """Register `module` under the dotted name (`body.body.2`), making the containers on the way."""
    *parents, leaf = dotted.split(".")
    node = root
    for part in parents:
        if part not in node._modules:
            node.add_module(part, nn.Module())
        node = node._modules[part]
    node.add_module(leaf, module)


class Network(nn.Module):
    """The body of one exported network: its layers (jaxlab.algos.layers' tuples) registered at their SLM
    Lab names and run in order; subclasses add their tails with `tail`."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        body: dict,
        normalize_obs: bool = False,
        clip_obs: float | None = None,
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__()
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.input_shape = tuple(int(d) for d in (input_shape or obs_shape))  # the body's (Q(s, a): s + a)
        if len(self.input_shape) not in (1, 3):
            raise ValueError(
                f"observation shape {list(self.input_shape)} is not supported (vectors or images)"
            )
        self.obs_norm = ObsNorm(self.obs_shape) if normalize_obs else None
        self.clip_obs = clip_obs
        # The shape of the features as the layers go: (C, H, W) for an image, (F,) after flattening.
        shape = (
            (self.input_shape[2], *self.input_shape[:2]) if len(self.input_shape) == 3 else self.input_shape
        )
        steps: list = []  # (op, module or argument): a plain list, so nothing is registered twice
        for op, name, *args in body["layers"]:
            if op in ("linear", "flatten") and len(shape) == 3:
                shape = (shape[0] * shape[1] * shape[2],)
            if op == "linear":
                module, shape = nn.Linear(shape[0], int(args[0])), (int(args[0]),)
            elif op == "conv":
                out, kernel, stride, padding, dilation = (int(a) for a in args)
                module = nn.Conv2d(shape[0], out, kernel, stride, padding, dilation)
                size = [(d + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1 for d in shape[1:]]
                shape = (out, *size)
            elif op == "layernorm":
                module = nn.LayerNorm(shape[-1])
            else:
                steps.append((op, ACTIVATIONS[args[0]]() if op == "act" else (args[0] if args else None)))
                continue
            _attach(self, name, module)
            steps.append((op, module))
        self._steps = steps
        self.out_features = shape[0] * shape[1] * shape[2] if len(shape) == 3 else shape[0]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, *input_shape] -> [B, out_features]."""
        image = len(self.input_shape) == 3
        if image:
            x = x.permute(0, 3, 1, 2)  # NHWC (as in JAX) -> NCHW; NCHW flattens as the Flax body does
        for op, step in self._steps:
            if op in ("linear", "flatten") and image:
                x, image = x.flatten(1), False
            if op == "scale":
                x = x * step
            elif op != "flatten":
                x = step(x)
        return x.flatten(1) if image else x

    def tail(self, name: str, out_features: int) -> nn.Module:
        module = nn.Linear(self.out_features, out_features)
        _attach(self, name, module)
        return module

    def observe(self, obs: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """obs [.., *obs_shape] as a normalised, clipped float32 batch, and its leading dims."""
        obs = obs.to(torch.float32)
        lead = tuple(obs.shape[: obs.dim() - len(self.obs_shape)])
        x = obs.reshape(-1, *self.obs_shape)
        if self.obs_norm is not None:
            x = self.obs_norm(x)
        if self.clip_obs is not None:
            x = torch.clamp(x, -self.clip_obs, self.clip_obs)
        return x, lead


def _gaussian(out: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    mean, log_std = out
    return mean, torch.clamp(log_std, LOG_STD_MIN, LOG_STD_MAX)


class PolicyNet(Network):
    """forward(obs [.., *obs_shape]) -> logits [.., A] (discrete), or (mean [.., D], log_std [.., D])."""

    def __init__(
        self, num_actions: int | None, action_dim: int | None, log_std_init: float | None = None, **body
    ):
        super().__init__(**body)
        self.num_actions, self.action_dim = num_actions, action_dim
        self.state_log_std = log_std_init is None or action_dim == 1
        if num_actions:
            self.heads = [self.tail("tails.0", num_actions)]
        elif action_dim == 1:
            self.heads = [self.tail("tails.0", 2)]
        elif self.state_log_std:
            self.heads = [self.tail("tails.0.0", action_dim), self.tail("tails.1.0", action_dim)]
        else:
            self.heads = [self.tail("tails.0", action_dim)]
            self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor):
        x, lead = self.observe(obs)
        x = self.features(x)
        if self.num_actions:
            return self.heads[0](x).reshape(*lead, -1)
        if self.action_dim == 1:
            mean, log_std = _gaussian(list(self.heads[0](x).chunk(2, dim=-1)))
        elif self.state_log_std:
            mean, log_std = _gaussian([head(x) for head in self.heads])
        else:
            mean = self.heads[0](x)
            log_std = torch.clamp(self.log_std, LOG_STD_MIN, LOG_STD_MAX).expand_as(mean)
        return mean.reshape(*lead, -1), log_std.reshape(*lead, -1)


class ValueNet(Network):
    """forward(obs [.., *obs_shape]) -> V(s) [..]."""

    def __init__(self, **body):
        super().__init__(**body)
        self.value_tail = [self.tail("tails.0", 1)]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x, lead = self.observe(obs)
        return self.value_tail[0](self.features(x)).reshape(lead)


class ActorCriticNet(Network):
    """forward(obs) -> (policy output as in PolicyNet, value [..]) from one shared body."""

    def __init__(self, num_actions: int | None, action_dim: int | None, **body):
        super().__init__(**body)
        self.num_actions, self.action_dim = num_actions, action_dim
        if num_actions:
            self.policy_tails = [self.tail("tails.0.0", num_actions)]
        elif action_dim == 1:
            self.policy_tails = [self.tail("tails.0.0", 2)]
        else:
            self.policy_tails = [self.tail("tails.0.0", action_dim), self.tail("tails.1.0", action_dim)]
        self.value_tail = [self.tail(f"tails.{len(self.policy_tails)}.0", 1)]

    def forward(self, obs: torch.Tensor):
        x, lead = self.observe(obs)
        x = self.features(x)
        value = self.value_tail[0](x).reshape(lead)
        if self.num_actions:
            return self.policy_tails[0](x).reshape(*lead, -1), value
        out = (
            list(self.policy_tails[0](x).chunk(2, dim=-1))
            if self.action_dim == 1
            else [t(x) for t in self.policy_tails]
        )
        mean, log_std = _gaussian(out)
        return (mean.reshape(*lead, -1), log_std.reshape(*lead, -1)), value


class QNet(Network):
    """forward(obs [.., *obs_shape]) -> Q values [.., A] (DQN family)."""

    def __init__(self, num_actions: int, **body):
        super().__init__(**body)
        self.q_tail = [self.tail("tails.0", num_actions)]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x, lead = self.observe(obs)
        return self.q_tail[0](self.features(x)).reshape(*lead, -1)


class DuelingQNet(Network):
    """forward(obs [.., *obs_shape]) -> Q values [.., A] = V(s) + A(s, a) - mean_a A(s, a)."""

    def __init__(self, num_actions: int, **body):
        super().__init__(**body)
        self.tails_vadv = [self.tail("v", 1), self.tail("adv", num_actions)]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x, lead = self.observe(obs)
        x = self.features(x)
        value_tail, advantage_tail = self.tails_vadv
        advantage = advantage_tail(x)
        return (value_tail(x) + advantage - advantage.mean(-1, keepdim=True)).reshape(*lead, -1)


class SquashedGaussianPolicyNet(Network):
    """SAC's continuous actor: forward(obs [.., *obs_shape]) -> (mean [.., D], log_std [.., D]) of the
    Gaussian before the tanh squashing."""

    def __init__(self, action_dim: int, **body):
        super().__init__(**body)
        self.action_dim = action_dim
        if action_dim == 1:
            self.heads = [self.tail("tails.0", 2)]
        else:
            self.heads = [self.tail("tails.0.0", action_dim), self.tail("tails.1.0", action_dim)]

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lead = self.observe(obs)
        x = self.features(x)
        out = list(self.heads[0](x).chunk(2, dim=-1)) if self.action_dim == 1 else [h(x) for h in self.heads]
        mean, log_std = _gaussian(out)
        return mean.reshape(*lead, -1), log_std.reshape(*lead, -1)


class StateActionQNet(Network):
    """SAC's continuous critic: forward(obs [.., *obs_shape], action [.., D]) -> Q(s, a) [..]. The body reads
    the (normalised) observation and the action concatenated."""

    def __init__(self, action_dim: int, obs_shape: Sequence[int], **body):
        obs_shape = tuple(int(d) for d in obs_shape)
        if len(obs_shape) != 1:
            raise ValueError(f"a Q(s, a) critic needs vector observations, not shape {list(obs_shape)}")
        self.action_dim = action_dim
        super().__init__(obs_shape=obs_shape, input_shape=(obs_shape[0] + action_dim,), **body)
        self.q_tail = [self.tail("tails.0", 1)]

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x, lead = self.observe(obs)
        x = torch.cat([x, action.to(torch.float32).reshape(x.shape[0], -1)], dim=-1)
        return self.q_tail[0](self.features(x)).reshape(lead)


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
HEAD_FIELDS = ("num_actions", "action_dim", "log_std_init")  # the description fields the torch modules read


def build_network(
    description: dict, obs_shape: Sequence[int], normalize_obs: bool = False, clip_obs: float | None = None
) -> Network:
    """The torch module of one exported network from its description in the trial spec (`meta.networks`:
    the Flax module's class and fields, written by the run): the same class name here, the body's layers,
    the tails from the other fields."""
    module = MODULES.get(description.get("module"))
    if module is None:
        raise ValueError(
            f"unknown network module {description.get('module')!r}; jaxlab.export has {', '.join(MODULES)}"
        )
    heads = {key: value for key, value in description.items() if key in HEAD_FIELDS}
    if module is not PolicyNet:
        heads.pop("log_std_init", None)
    return module(
        **heads,
        obs_shape=tuple(obs_shape),
        body=description["body"],
        normalize_obs=normalize_obs,
        clip_obs=clip_obs,
    )
