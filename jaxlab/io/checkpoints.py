"""`.pt` checkpoints: one PyTorch `state_dict` per network, loadable with torch.load(weights_only=True)."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np

from jaxlab.export.convert import flax_to_state_dict
from jaxlab.io.files import atomic_write
from jaxlab.io.paths import RunPaths


def save_networks(
    paths: RunPaths, trial: int, session: int, networks: dict, obs_stats=None, best: bool = False
) -> list[str]:
    """Write `model/{name}_t{T}_s{S}_[ckpt-best_]{net}_model.pt` for each named network's Flax variables
    (numpy leaves); returns the paths. With normalised observations each file also carries the
    statistics as `obs_norm.mean` and `obs_norm.var`, so the network can be used on raw observations."""
    import torch  # here, not at import: a run pays for torch when it writes its first .pt, not at start-up

    written = []
    norm = {} if obs_stats is None else {"obs_norm.mean": obs_stats.mean, "obs_norm.var": obs_stats.var}
    for net_name, variables in networks.items():
        path = paths.model(trial, session, net_name, best)
        tensors = {**flax_to_state_dict(variables), **norm}
        state_dict = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}
        atomic_write(path, lambda tmp, sd=state_dict: torch.save(sd, tmp))
        written.append(path)
    return written


def keep_trials(paths: RunPaths, trials: list[int]) -> int:
    """`--keep N`, as in SLM Lab: delete the model files of every trial not in `trials`; returns how many."""
    kept = tuple(f"{paths.trial_prefix(t)}_" for t in trials)
    removed, model_dir = 0, paths.model_dir()
    for entry in os.listdir(model_dir):
        if re.match(rf"{re.escape(paths.name)}_t\d+_", entry) and not entry.startswith(kept):
            target = os.path.join(model_dir, entry)
            shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
            removed += 1
    return removed
