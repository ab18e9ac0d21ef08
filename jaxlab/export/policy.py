"""Deployable policies: `load_policy(<run>/model/..._net_model.pt)` -> a torch `Policy` that maps
observations (numpy or torch, one or a batch) to the deterministic action (argmax, the clipped Gaussian
mean, or SAC's squashed mean), with no JAX needed."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from jaxlab.export.modules import (
    ActorCriticNet,
    DuelingQNet,
    QNet,
    SquashedGaussianPolicyNet,
    ValueNet,
    build_network,
    obs_clip,
)
from jaxlab.io.paths import MODEL_FILE_PATTERN, ModelFile

NET_FILE_PATTERN = MODEL_FILE_PATTERN.replace("{net}", "net")  # a policy file: the `net` network


class ExportError(ValueError):
    """A policy file that cannot be loaded, or a call a policy cannot answer; the message is one line
    naming the problem and the fix."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # one line whatever the underlying error said


def _brief(error: BaseException, limit: int = 160) -> str:
    """An underlying error as a short one-line clause."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Policy(nn.Module):
    """The policy of one exported network, plus an optional separate critic.

    Inputs: numpy (or any array-like: lists, uint8 images, int or float64 arrays) or torch tensors (any
    real dtype, any device), cast to float32; one observation [*obs_shape] or a batch [B, *obs_shape].
    Outputs follow the input: numpy in -> numpy out, torch in -> torch out (on the input's device); one
    observation in -> no batch dim out, a batch in -> a leading [B] out. Everything runs under
    torch.no_grad(): returned tensors have requires_grad False.

    Shapes for a batch (drop the leading B for one observation):
        policy(obs)         the deterministic action: [B] int64 for discrete action spaces (argmax of the
                            logits, or of the Q values of a Q network); [B, D] float32 for continuous ones
                            in the env's units: the policy's action a in [-1, 1] (the Gaussian mean, or SAC's
                            tanh(mean)) as low + (a + 1) (high - low) / 2, clipped to [low, high]
        policy.output(obs)  the network's raw output: logits [B, A] of a categorical policy, Q values
                            [B, A] of a DQN-family Q network, (mean [B, D], log_std [B, D]) of a Gaussian
                            policy (mean unclipped; SAC's is the pre-tanh mean, its log_std state-dependent)
        policy.value(obs)   V(s) [B] from the shared net's value head or the separate critic; for a Q
                            network max_a Q(s, a) [B], the greedy value
    """

    def __init__(self, net: nn.Module, action_space: dict, critic: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.critic = critic
        obs_shape = getattr(net, "obs_shape", None)
        # None (a module that is not a jaxlab network) means inputs are taken as batches, unchecked.
        self.obs_shape = None if obs_shape is None else tuple(int(d) for d in obs_shape)
        self.shared = isinstance(net, ActorCriticNet)
        self.q_network = isinstance(net, (QNet, DuelingQNet))
        self.squashed = isinstance(net, SquashedGaussianPolicyNet)
        self.discrete = action_space["type"] == "discrete"
        if not self.discrete:
            shape = tuple(action_space["shape"])
            # Not persistent: the bounds come from the spec, so the state_dict stays the network's.
            for key in ("low", "high"):
                bound = np.broadcast_to(np.float32(action_space[key]), shape).copy()
                self.register_buffer(key, torch.from_numpy(bound), persistent=False)

    # -- the public API: numpy/torch, one observation or a batch ---------------------------------------

    def forward(self, obs):
        """The deterministic action: [B] int64 (discrete) or [B, D] float32 (continuous) for a batch
        [B, *obs_shape]; [] or [D] for one observation [*obs_shape]. Numpy in -> numpy out."""
        return self._apply(obs, lambda x: self._action(self._output(x)))

    def output(self, obs):
        """The network's raw output: logits [B, A] (categorical policy), Q values [B, A] (Q network), or
        (mean [B, D], log_std [B, D]) (Gaussian policy; SAC: pre-tanh mean, state-dependent log_std) for
        a batch [B, *obs_shape]; no leading B for one observation. Numpy in -> numpy out."""
        return self._apply(obs, self._output)

    def value(self, obs):
        """V(s) [B] for a batch [B, *obs_shape] ([] for one observation): the shared net's value head or
        the separate critic; max_a Q(s, a) for a Q network. Numpy in -> numpy out."""
        if self.q_network or self.shared or self.critic is not None:
            return self._apply(obs, self._value)
        raise ExportError(
            "this policy has no V(s) — load_policy(path, with_critic=True) loads the run's critic_net when"
            " it has"
            " one (a run whose critics are Q networks has none: build them with jaxlab.export.build_network)"
        )

    # -- internals: on float32 batches [B, *obs_shape] -------------------------------------------------

    def _output(self, x: torch.Tensor):
        out = self.net(x)
        if self.shared:
            out = out[0]
        if not self.discrete:
            mean, log_std = out
            # PolicyNet's log_std is a [D] parameter: broadcast (and copy) it so every Gaussian gives [B, D].
            out = (mean, log_std.expand_as(mean).clone())
        return out

    def _value(self, x: torch.Tensor) -> torch.Tensor:
        if self.q_network:
            return self.net(x).max(dim=-1).values
        return self.net(x)[1] if self.shared else self.critic(x)

    def _action(self, out) -> torch.Tensor:
        if self.discrete:
            return torch.argmax(out, dim=-1)
        # The policy acts in [-1, 1]; the env's bounds are that range rescaled (jaxlab.envs' to_env_action).
        action = torch.tanh(out[0]) if self.squashed else out[0]
        scaled = self.low + (action + 1.0) * 0.5 * (self.high - self.low)
        return torch.minimum(torch.maximum(scaled, self.low), self.high)

    def _device(self) -> torch.device:
        for tensor in self.net.parameters():
            return tensor.device
        for tensor in self.net.buffers():
            return tensor.device
        return torch.device("cpu")

    def _apply(self, obs, fn):
        """fn on obs as a float32 batch on the network's device, under no_grad; the result converted back
        to obs's kind (numpy or torch on obs's device) and, for one observation, without the batch dim."""
        with torch.no_grad():
            if isinstance(obs, torch.Tensor):
                if obs.dtype.is_complex:
                    raise ExportError(
                        f"observations must be real numbers, not {obs.dtype} — pass a real tensor"
                    )
                device, x = obs.device, obs.detach()
            else:
                array = np.asarray(obs)
                if array.dtype.kind not in "biuf":
                    raise ExportError(
                        f"observations must be numbers, not {array.dtype} — pass a numeric array, "
                        f"{self._shapes()}"
                    )
                device, x = None, torch.from_numpy(np.array(array, dtype=np.float32))  # a writable copy
            x = x.to(device=self._device(), dtype=torch.float32)
            single = self.obs_shape is not None and tuple(x.shape) == self.obs_shape
            batch = x.dim() > 0 and (self.obs_shape is None or tuple(x.shape[1:]) == self.obs_shape)
            if single:
                x = x.unsqueeze(0)
            elif not batch:
                raise ExportError(
                    f"observation shape {list(x.shape)} does not fit this policy — pass {self._shapes()}"
                )
            return self._give(fn(x), single, device)

    def _shapes(self) -> str:
        if self.obs_shape is None:
            return "a batch [B, *obs_shape]"
        shape = ", ".join(str(d) for d in self.obs_shape)
        return f"one observation [{shape}] or a batch [B, {shape}]"

    @classmethod
    def _give(cls, out, single: bool, device: torch.device | None):
        if isinstance(out, tuple):
            return tuple(cls._give(part, single, device) for part in out)
        out = out.detach()
        if single:
            out = out[0]
        return out.cpu().numpy() if device is None else out.to(device)


def _read_spec(model: ModelFile, path: str) -> tuple[str, dict]:
    """The trial spec of a model file, with the fields a network is built from checked."""
    spec_path = model.paths.trial_spec(model.trial)
    if not os.path.isfile(spec_path):
        raise ExportError(
            f"{path} is not inside a jaxlab run folder: no trial spec {spec_path} — "
            "keep the .pt in <run>/model/ next to its run's spec files"
        )
    try:
        with open(spec_path) as f:
            spec = json.load(f)
        meta = spec["meta"]
        networks, action_space = meta["networks"], meta["action_space"]
        if not (isinstance(networks, Mapping) and isinstance(action_space, Mapping)):
            raise TypeError("meta.networks and meta.action_space must be objects")
        meta["observation_shape"] = [int(d) for d in meta["observation_shape"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ExportError(
            f"{spec_path} is not a readable jaxlab trial spec ({type(error).__name__}: {_brief(error)}) — "
            "it needs meta.networks, meta.observation_shape and meta.action_space; re-run with current jaxlab"
        ) from None
    return spec_path, spec


def _load_into(module: nn.Module, path: str, spec_path: str) -> None:
    """torch.load `path` and load it strictly into `module`, with one-line errors."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:
        raise ExportError(
            f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: {_brief(error)}) — "
            "the file is corrupted or truncated; copy it again from the run folder"
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(
            f"{path} is not a readable PyTorch checkpoint (not a state_dict of tensors) — "
            "pass a *_net_model.pt written by jaxlab"
        )
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    problems = []
    if missing := sorted(expected.keys() - found.keys()):
        problems.append(f"missing keys {missing[:4]}")
    if unexpected := sorted(found.keys() - expected.keys()):
        problems.append(f"unexpected keys {unexpected[:4]}")
    if wrong := [k for k in sorted(expected.keys() & found.keys()) if expected[k] != found[k]]:
        problems.append(
            ", ".join(
                f"{k} is {list(found[k])} in the file but {list(expected[k])} in the spec" for k in wrong[:3]
            )
        )
    if problems:
        raise ExportError(
            f"{path} does not match the network in {spec_path} (a folder from another spec?) — "
            + "; ".join(problems)
        )
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as error:  # e.g. a dtype torch cannot copy; shapes were checked above
        raise ExportError(
            f"{path} does not match the network in {spec_path} (a folder from another spec?) — "
            + _brief(error)
        ) from None


def load_policy(path: str, with_critic: bool = False) -> Policy:
    """The `Policy` of `<run>/model/{name}_t{T}_s{S}[_ckpt-best]_net_model.pt`, built from the network
    descriptions in the run's trial spec `<run>/{name}_t{T}_spec.json`. `with_critic` also loads the
    session's `critic_net` file (a V(s) network) so `Policy.value` works (a shared net's value head and a Q
    network's greedy value need no critic). Raises ExportError with a one-line message."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist — pass the path of a {NET_FILE_PATTERN} file")
    if not os.path.isfile(path):
        raise ExportError(f"{path} is not a file — pass the path of a {NET_FILE_PATTERN} file inside it")
    model = ModelFile.parse(path)
    if model is None or model.net != "net":
        raise ExportError(
            f"{os.path.basename(path)} is not a jaxlab policy file name — pass the {NET_FILE_PATTERN} file"
            " from"
            " <run>/model/"
        )
    spec_path, spec = _read_spec(model, path)
    meta = spec["meta"]
    env_spec = spec.get("env", {})
    normalize_obs, clip = bool(env_spec.get("normalize_obs", False)), obs_clip(env_spec)

    def build(net: str) -> nn.Module:
        try:
            return build_network(meta["networks"][net], meta["observation_shape"], normalize_obs, clip)
        except (KeyError, TypeError, ValueError) as error:
            raise ExportError(
                f"{spec_path} describes a network jaxlab.export cannot build ({_brief(error)}) — "
                "check meta.networks and meta.action_space in the trial spec"
            ) from None

    net = build("net")
    _load_into(net, path, spec_path)
    critic = None
    if with_critic and not isinstance(net, (ActorCriticNet, QNet, DuelingQNet)):
        if meta["networks"].get("critic_net", {}).get("module") != ValueNet.__name__:
            raise ExportError(
                f"this run has no V(s) critic (its networks: {', '.join(meta['networks'])}) — use"
                " with_critic=False"
            )
        critic_path = model.sibling("critic_net")
        if not os.path.isfile(critic_path):
            raise ExportError(
                f"{critic_path} not found — put the critic file beside the net file, or use with_critic=False"
            )
        critic = build("critic_net")
        _load_into(critic, critic_path, spec_path)
    return Policy(net, meta["action_space"], critic).eval()
