"""Flax params -> PyTorch. This package imports numpy and torch only, never JAX, so a deployment
machine needs neither JAX nor the training code's dependencies."""

from jaxlab.export.convert import flax_to_state_dict
from jaxlab.export.modules import (
    ActorCriticNet,
    DuelingQNet,
    ObsNorm,
    PolicyNet,
    QNet,
    SquashedGaussianPolicyNet,
    StateActionQNet,
    ValueNet,
    build_network,
)
from jaxlab.export.policy import ExportError, Policy, load_policy

__all__ = [
    "ActorCriticNet",
    "DuelingQNet",
    "ExportError",
    "ObsNorm",
    "Policy",
    "PolicyNet",
    "QNet",
    "SquashedGaussianPolicyNet",
    "StateActionQNet",
    "ValueNet",
    "build_network",
    "flax_to_state_dict",
    "load_policy",
]
