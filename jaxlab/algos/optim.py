"""Optimisers from `net.optim_spec`, with gradient clipping and the lr schedule, on optax; the one
optimiser step every algorithm takes; the optimiser keys of a net's spec section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxlab.schema import Field, choice, real

# The optimiser keys of a net section (agent.net, agent.critic_net).
OPTIM_SCHEMA = {
    "clip_grad_val": real(0.5, 0.0, low_open=True, nullable=True),  # the gradient-norm clip; null: none
    "optim_spec": {
        "name": choice("Adam", "Adam", "AdamW", "RMSprop", "SGD"),
        "lr": real(2.5e-4, 0.0, low_open=True),
        "eps": real(1e-5, 0.0, low_open=True),
    },
    "lr_scheduler_spec": {"name": Field(None, "str", choices=("LinearToZero",), nullable=True)},
}


def linear_to_zero(lr: jax.Array, steps: int) -> optax.Schedule:
    """LinearToZero: lr at step 0 down to 0 at `steps`, and 0 after. Clipped at 0: XLA turns optax's
    count / steps into count * (1 / steps), which rounds to a tiny negative lr at the end."""
    schedule = optax.linear_schedule(lr, 0.0, steps)
    return lambda count: jnp.maximum(schedule(count), 0.0)


def make_optimizer(
    name: str, lr: jax.Array, eps: float, max_grad_norm: jax.Array | None, lr_decay_steps: int | None
) -> optax.GradientTransformation:
    """`lr` may be a traced array (searched trials vmap it); LinearToZero decays it over `lr_decay_steps`
    gradient steps. The optimiser state layout depends only on `name` and whether clipping is on.
    It runs on the params flattened into one vector: the same maths in a few large XLA ops instead of
    ~10 small ones per parameter leaf (+10% PPO throughput on CPU)."""
    learning_rate = linear_to_zero(lr, lr_decay_steps) if lr_decay_steps else lr
    if name == "Adam":
        base = optax.adam(learning_rate, eps=eps)
    elif name == "AdamW":
        base = optax.adamw(learning_rate, eps=eps)
    elif name == "RMSprop":
        base = optax.rmsprop(learning_rate, eps=eps)
    else:
        base = optax.sgd(learning_rate)
    if max_grad_norm is not None:
        base = optax.chain(optax.clip_by_global_norm(max_grad_norm), base)
    return optax.flatten(base)


@dataclass(frozen=True)
class OptimSettings:
    """The static part of one network's optimiser (`optim_spec`, clipping, LinearToZero); the lr and the
    clipping norm are float hyperparameters, passed in."""

    name: str
    eps: float
    clip_grad: bool
    lr_decay_steps: int | None  # grad steps over which lr decays linearly to zero (LinearToZero)

    @classmethod
    def from_spec(cls, net_spec: dict, grad_steps: int) -> OptimSettings:
        """From a network's spec; `grad_steps` is the whole run's, over which LinearToZero decays."""
        decay = net_spec["lr_scheduler_spec"]["name"] == "LinearToZero"
        return cls(
            net_spec["optim_spec"]["name"],
            net_spec["optim_spec"]["eps"],
            net_spec["clip_grad_val"] is not None,
            grad_steps if decay else None,
        )

    def make(self, lr: jax.Array, max_grad_norm: jax.Array | None) -> optax.GradientTransformation:
        return make_optimizer(
            self.name, lr, self.eps, max_grad_norm if self.clip_grad else None, self.lr_decay_steps
        )

    def lr(self, lr: jax.Array, grad_step: jax.Array) -> jax.Array:
        """The lr that `make` applies at `grad_step`."""
        if self.lr_decay_steps is None:
            return lr
        return linear_to_zero(lr, self.lr_decay_steps)(grad_step)


def apply_gradients(
    tx: optax.GradientTransformation, grads: Any, opt_state: Any, params: Any
) -> tuple[Any, Any]:
    """One optimiser step: (new params, new optimiser state)."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
