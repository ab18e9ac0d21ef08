"""Flax params -> PyTorch. This package imports numpy and torch only, never JAX, so a deployment
machine needs neither JAX nor the training code's dependencies."""

from jaxlab.export.convert import flax_to_state_dict

__all__ = ["flax_to_state_dict"]
