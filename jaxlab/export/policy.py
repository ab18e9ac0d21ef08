"""Deployable policies: `load_policy(<run>/model/..._net_model.pt)` -> a torch `Policy` that maps
observations to the deterministic action (argmax, the clipped Gaussian mean, or SAC's squashed mean), with
no JAX needed."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from jaxlab.export.modules import (
    Q_ALGORITHMS,
    ActorCriticNet,
    DuelingQNet,
    QNet,
    SquashedGaussianPolicyNet,
    build_network,
)

# {name}_t{T}_s{S}[_ckpt-best]_net_model.pt; `trial` is the prefix of the trial spec {name}_t{T}_spec.json.
NET_FILE = re.compile(r"^(?P<trial>.+_t\d+)_s\d+(?:_ckpt-best)?_net_model\.pt$")
NET_FILE_PATTERN = "{name}_t{T}_s{S}[_ckpt-best]_net_model.pt"


class ExportError(ValueError):
    """A policy file that cannot be loaded; the message is one line naming the problem and the fix."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # one line whatever the underlying error said


def _brief(error: BaseException, limit: int = 160) -> str:
    """An underlying error as a short one-line clause."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Policy(nn.Module):
    """The policy of one exported network, plus an optional separate critic.

    forward(obs [B, *obs_shape]) -> actions: [B] int64 (argmax of the logits, or of the Q values for a Q
    network) for discrete action spaces, [B, D] float32 (Gaussian mean clipped to [low, high]; for SAC's
    squashed Gaussian low + (tanh(mean) + 1) (high - low) / 2) for continuous ones."""

    def __init__(self, net: nn.Module, action_space: dict, critic: nn.Module | None = None):
        super().__init__()
        self.net = net
        self.critic = critic
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

    def _policy_out(self, obs: torch.Tensor):
        return self.net(obs)[0] if self.shared else self.net(obs)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Discrete policies: logits [B, A]."""
        if not self.discrete:
            raise ExportError(
                "logits() is for discrete action spaces — use mean_log_std() for continuous ones"
            )
        if self.q_network:
            raise ExportError("a Q network outputs Q values, not logits — use q_values()")
        return self._policy_out(obs)

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """DQN family: Q(s, .) [B, A]."""
        if not self.q_network:
            raise ExportError("q_values() is for DQN-family Q networks — use logits() for a policy network")
        return self.net(obs)

    def mean_log_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous policies: (mean [B, D] unclipped, log_std [D]); for SAC the pre-tanh mean and the
        state-dependent log_std [B, D]."""
        if self.discrete:
            raise ExportError(
                "mean_log_std() is for continuous action spaces — use logits() for discrete ones"
            )
        return self._policy_out(obs)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) [B], from the shared net's value head or the separate critic."""
        if self.shared:
            return self.net(obs)[1]
        if self.q_network:
            raise ExportError("a Q network has no V(s) head — use q_values(obs).max(-1) for the greedy value")
        if self.critic is None:
            raise ExportError(
                "this policy was loaded without its critic — use load_policy(path, with_critic=True)"
            )
        return self.critic(obs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return torch.argmax(self._policy_out(obs), dim=-1)
        mean, _ = self.mean_log_std(obs)
        if self.squashed:
            return self.low + (torch.tanh(mean) + 1.0) * 0.5 * (self.high - self.low)
        return torch.minimum(torch.maximum(mean, self.low), self.high)


def _read_spec(path: str) -> tuple[str, dict]:
    """The trial spec of a net file, with the fields a network is built from checked."""
    name = os.path.basename(path)
    match = NET_FILE.match(name)
    if match is None:
        raise ExportError(
            f"{name} is not a jaxlab policy file name — pass the {NET_FILE_PATTERN} file from <run>/model/"
        )
    run_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    spec_path = os.path.join(run_dir, f"{match['trial']}_spec.json")
    if not os.path.isfile(spec_path):
        raise ExportError(
            f"{path} is not inside a jaxlab run folder: no trial spec {spec_path} — "
            "keep the .pt in <run>/model/ next to its run's spec files"
        )
    try:
        with open(spec_path) as f:
            spec = json.load(f)
        net_spec, action_space = spec["agent"]["net"], spec["meta"]["action_space"]
        if not (isinstance(net_spec, Mapping) and isinstance(action_space, Mapping)):
            raise TypeError("agent.net and meta.action_space must be objects")
        obs_shape = [int(d) for d in spec["meta"]["observation_shape"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ExportError(
            f"{spec_path} is not a readable jaxlab trial spec ({type(error).__name__}: {_brief(error)}) — "
            "it needs agent.net, meta.observation_shape and meta.action_space; re-run with current jaxlab"
        ) from None
    spec["meta"]["observation_shape"] = obs_shape
    return spec_path, spec


def _load_into(module: nn.Module, path: str, spec_path: str) -> None:
    """torch.load `path` and load it strictly into `module`, with one-line errors."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing to the user
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
    """The `Policy` of `<run>/model/{name}_t{T}_s{S}[_ckpt-best]_net_model.pt`, built from the run's trial
    spec `<run>/{name}_t{T}_spec.json`. `with_critic` also loads the matching `critic_net` file (when the
    net is not shared) so `Policy.value` works. Raises ExportError with a one-line message."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist — pass the path of a {NET_FILE_PATTERN} file")
    if not os.path.isfile(path):
        raise ExportError(f"{path} is not a file — pass the path of a {NET_FILE_PATTERN} file inside it")
    spec_path, spec = _read_spec(path)
    net_spec, meta = spec["agent"]["net"], spec["meta"]
    normalize_obs = bool(spec.get("env", {}).get("normalize_obs", False))
    algorithm = str(spec["agent"].get("algorithm", {}).get("name", "PPO"))

    def build(role: str) -> nn.Module:
        try:
            return build_network(
                net_spec, meta["observation_shape"], meta["action_space"], role, normalize_obs, algorithm
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ExportError(
                f"{spec_path} describes a network jaxlab.export cannot build ({_brief(error)}) — "
                "check agent.net and meta.action_space in the trial spec"
            ) from None

    net = build("net")
    _load_into(net, path, spec_path)
    critic = None
    if with_critic and algorithm in Q_ALGORITHMS:
        raise ExportError(
            f"{algorithm} has no critic network — use with_critic=False; Policy.q_values gives Q(s, .)"
        )
    if with_critic and algorithm == "SAC":
        raise ExportError(
            "SAC has no V(s) critic — use with_critic=False; its Q networks are the *_q1_net/*_q2_net files"
            " (jaxlab.export.build_network with agent.critic_net builds them)"
        )
    if with_critic and not net_spec.get("shared", False):
        critic_path = path[: -len("_net_model.pt")] + "_critic_net_model.pt"
        if not os.path.isfile(critic_path):
            raise ExportError(
                f"{critic_path} not found — put the critic file beside the net file, or use with_critic=False"
            )
        critic = build("critic_net")
        _load_into(critic, critic_path, spec_path)
    return Policy(net, meta["action_space"], critic).eval()
