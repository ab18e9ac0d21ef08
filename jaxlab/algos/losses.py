"""The regression losses of a net's `loss_spec` (PyTorch's `torch.nn` losses SLM Lab builds by name, mean
reduction): what value and Q networks regress onto their targets with."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxlab.schema import choice, real

LOSSES = ("MSELoss", "SmoothL1Loss", "HuberLoss", "L1Loss")
LOSS_SCHEMA = {
    "name": choice("MSELoss", *LOSSES),
    "beta": real(1.0, 0.0, low_open=True),  # SmoothL1Loss
    "delta": real(1.0, 0.0, low_open=True),  # HuberLoss
}


@dataclass(frozen=True)
class Loss:
    """One `loss_spec`, static (it shapes the program)."""

    name: str
    beta: float
    delta: float

    @classmethod
    def from_spec(cls, loss_spec: dict) -> Loss:
        return cls(loss_spec["name"], loss_spec["beta"], loss_spec["delta"])

    def elementwise(self, prediction: jax.Array, target: jax.Array) -> jax.Array:
        """The loss of each element."""
        error = jnp.abs(prediction - target)
        if self.name == "MSELoss":
            return error**2
        if self.name == "L1Loss":
            return error
        if self.name == "SmoothL1Loss":  # 0.5 e^2 / beta below beta, e - beta / 2 above
            return jnp.where(error < self.beta, 0.5 * error**2 / self.beta, error - 0.5 * self.beta)
        # HuberLoss: 0.5 e^2 below delta, delta (e - delta / 2) above
        return jnp.where(error < self.delta, 0.5 * error**2, self.delta * (error - 0.5 * self.delta))

    def __call__(self, prediction: jax.Array, target: jax.Array) -> jax.Array:
        """PyTorch's mean reduction."""
        return self.elementwise(prediction, target).mean()
