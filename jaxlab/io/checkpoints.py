"""`.pt` checkpoints: one PyTorch `state_dict` per network, loadable with torch.load(weights_only=True)."""

from __future__ import annotations

import os

import numpy as np
import torch

from jaxlab.export import flax_to_state_dict
from jaxlab.io.files import atomic_write


def save_networks(model_dir: str, session_prefix: str, networks: dict, best: bool = False) -> list[str]:
    """Write `{session_prefix}_[ckpt-best_]{net}_model.pt` for each named network's Flax variables
    (numpy leaves); returns the paths."""
    paths = []
    for net_name, variables in networks.items():
        tag = "ckpt-best_" if best else ""
        path = os.path.join(model_dir, f"{session_prefix}_{tag}{net_name}_model.pt")
        state_dict = {k: torch.from_numpy(np.array(v)) for k, v in flax_to_state_dict(variables).items()}
        atomic_write(path, lambda tmp, sd=state_dict: torch.save(sd, tmp))
        paths.append(path)
    return paths
