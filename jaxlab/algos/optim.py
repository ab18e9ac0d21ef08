"""Optimisers from a net's `optim_spec` (PyTorch's `torch.optim` names, arguments and defaults), with the
net's gradient-norm clip and SLM Lab's `LinearToZero` lr schedule, on optax; the one optimiser step every
algorithm takes; the optimiser keys of a net's spec section.

PyTorch's defaults, as SLM Lab gets them from `torch.optim.<name>(**optim_spec)`: Adam and AdamW lr 1e-3,
betas (0.9, 0.999), eps 1e-8, AdamW weight_decay 0.01 (decoupled), Adam's weight_decay an L2 term added to
the gradient; RMSprop lr 1e-2, alpha 0.99, eps 1e-8 added outside the square root; SGD needs an lr.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxlab.schema import Field, SpecError, choice, flag, integer, real

OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "SGD")
DEFAULT_LR = {"Adam": 1e-3, "AdamW": 1e-3, "RMSprop": 1e-2}  # PyTorch's; SGD has none
DEFAULT_WEIGHT_DECAY = {"AdamW": 0.01}

OPTIM_SPEC_SCHEMA = {
    "name": choice("Adam", *OPTIMIZERS),
    "lr": real(None, 0.0, low_open=True, nullable=True),
    "eps": real(1e-8, 0.0, low_open=True),
    "betas": Field(
        [0.9, 0.999],
        "float_list",
        "[beta1, beta2], each in [0, 1)",
        lambda v: len(v) == 2 and all(0 <= b < 1 for b in v),
    ),
    "weight_decay": real(None, 0.0, nullable=True),
    "amsgrad": flag(False),
    "alpha": real(0.99, 0.0, 1.0),  # RMSprop's smoothing constant
    "momentum": real(0.0, 0.0),  # SGD, RMSprop
    "centered": flag(False),  # RMSprop
    "nesterov": flag(False),  # SGD
}
LR_SCHEDULER_SCHEMA = {
    # SLM Lab's LinearToZero: the lr falls by equal steps after each training to 0 at `frame` frames
    # (env.max_frame when absent); LinearToMin (SLM Lab's later versions) stops at min_factor x lr.
    "name": Field(None, "str", choices=("LinearToZero", "LinearToMin"), nullable=True),
    "frame": integer(None, 1, nullable=True),
    "min_factor": real(0.0, 0.0, 1.0),
}
# The optimiser keys of a net section (agent.net, agent.critic_net): SLM Lab's, with PyTorch's defaults.
OPTIM_SCHEMA = {
    "clip_grad_val": real(None, 0.0, low_open=True, nullable=True),  # the gradient-norm clip; null: none
    "optim_spec": OPTIM_SPEC_SCHEMA,
    "lr_scheduler_spec": LR_SCHEDULER_SCHEMA,
}


def spec_lr(optim_spec: dict, where: str) -> float:
    """The lr an optim_spec gives, or PyTorch's default for its optimiser."""
    lr = optim_spec["lr"] if optim_spec["lr"] is not None else DEFAULT_LR.get(optim_spec["name"])
    if lr is None:
        raise SpecError(f"{where}.lr is required for SGD (PyTorch has no default) — give e.g. lr: 0.01")
    return float(lr)


def _base_optimizer(settings: OptimSettings, lr: jax.Array) -> optax.GradientTransformation:
    b1, b2 = settings.betas
    if settings.name in ("Adam", "AdamW"):
        scale = (
            optax.scale_by_amsgrad(b1, b2, settings.eps)
            if settings.amsgrad
            else optax.scale_by_adam(b1, b2, settings.eps)
        )
        decay = (
            optax.add_decayed_weights(settings.weight_decay) if settings.weight_decay else optax.identity()
        )
        if settings.name == "Adam":  # L2: the decay joins the gradient before Adam's moments
            return optax.chain(decay, scale, optax.scale_by_learning_rate(lr))
        return optax.chain(scale, decay, optax.scale_by_learning_rate(lr))  # AdamW: decoupled
    decay = optax.add_decayed_weights(settings.weight_decay) if settings.weight_decay else optax.identity()
    momentum = settings.momentum or None
    if settings.name == "RMSprop":
        return optax.chain(
            decay,
            optax.rmsprop(
                lr,
                decay=settings.alpha,
                eps=settings.eps,
                eps_in_sqrt=False,
                centered=settings.centered,
                momentum=momentum,
            ),
        )
    return optax.chain(decay, optax.sgd(lr, momentum=momentum, nesterov=settings.nesterov))


@dataclass(frozen=True)
class OptimSettings:
    """The static part of one network's optimiser: `optim_spec` but the lr, whether the gradient norm is
    clipped, and the LinearToZero schedule. The lr and the clipping norm are float hyperparameters (arrays,
    so search trials vmap them), passed in."""

    name: str
    eps: float
    betas: tuple[float, float]
    weight_decay: float
    amsgrad: bool
    alpha: float
    momentum: float
    centered: bool
    nesterov: bool
    clip_grad: bool
    grad_steps_per_update: int  # the lr changes once per update (SLM Lab steps its scheduler per training)
    updates_to_zero: float | None  # LinearToZero: updates over which the lr falls to 0; None: constant
    min_factor: float  # LinearToMin: the lr falls no lower than min_factor x lr (0 for LinearToZero)

    @classmethod
    def from_spec(
        cls,
        net_spec: dict,
        optim_spec: dict,
        grad_steps_per_update: int,
        frames_per_training: int,
        max_frame: int,
    ) -> OptimSettings:
        """From a net section and the optim_spec it uses (an actor's or a critic's); `frames_per_training` is
        SLM Lab's `training_frequency x num_envs`, the frames its LinearToZero counts per training."""
        scheduler = net_spec["lr_scheduler_spec"]
        updates = None
        if scheduler["name"] is not None:
            frame = scheduler["frame"] or max_frame
            updates = max(1.0, frame / frames_per_training)
        weight_decay = optim_spec["weight_decay"]
        return cls(
            name=optim_spec["name"],
            eps=optim_spec["eps"],
            betas=tuple(optim_spec["betas"]),
            weight_decay=DEFAULT_WEIGHT_DECAY.get(optim_spec["name"], 0.0)
            if weight_decay is None
            else weight_decay,
            amsgrad=optim_spec["amsgrad"],
            alpha=optim_spec["alpha"],
            momentum=optim_spec["momentum"],
            centered=optim_spec["centered"],
            nesterov=optim_spec["nesterov"],
            clip_grad=net_spec["clip_grad_val"] is not None,
            grad_steps_per_update=max(1, grad_steps_per_update),
            updates_to_zero=updates,
            min_factor=scheduler["min_factor"] if scheduler["name"] == "LinearToMin" else 0.0,
        )

    def lr(self, lr: jax.Array, grad_step: jax.Array) -> jax.Array:
        """The lr at gradient step `grad_step`: max(m, 1 - k (1 - m) / n) x lr after k updates (LinearToZero:
        m = 0)."""
        if self.updates_to_zero is None:
            return lr
        updates_done = (grad_step // self.grad_steps_per_update).astype(jnp.float32)
        fall = updates_done * (1.0 - self.min_factor) / self.updates_to_zero
        return lr * jnp.maximum(self.min_factor, 1.0 - fall)

    def make(
        self, lr: jax.Array, max_grad_norm: jax.Array | None, grad_step: jax.Array | int = 0
    ) -> optax.GradientTransformation:
        """The optimiser at `grad_step` (its lr scheduled). The state layout depends only on the static
        settings. It runs on the params flattened into one vector: the same maths in a few large XLA ops
        instead of ~10 small ones per parameter leaf (+10% PPO throughput on CPU)."""
        base = _base_optimizer(self, self.lr(lr, jnp.asarray(grad_step)))
        if self.clip_grad and max_grad_norm is not None:
            base = optax.chain(optax.clip_by_global_norm(max_grad_norm), base)
        return optax.flatten(base)


def apply_gradients(
    tx: optax.GradientTransformation, grads: Any, opt_state: Any, params: Any
) -> tuple[Any, Any]:
    """One optimiser step: (new params, new optimiser state)."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
