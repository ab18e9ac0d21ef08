"""Flax params -> PyTorch. This package imports numpy and torch only, never JAX, so a deployment
machine needs neither JAX nor the training code's dependencies. Its names load on first use (PEP 562), so
training imports torch only when it writes its first `.pt` file."""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it
_HOMES = {
    "flax_to_state_dict": "convert",
    **{
        name: "modules"
        for name in (
            "ActorCriticNet",
            "DuelingQNet",
            "ObsNorm",
            "PolicyNet",
            "QNet",
            "SquashedGaussianPolicyNet",
            "StateActionQNet",
            "ValueNet",
            "build_network",
        )
    },
    **{name: "policy" for name in ("ExportError", "Policy", "load_policy")},
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'jaxlab.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"jaxlab.export.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return __all__
