"""Flax linen params (nested dicts of numpy arrays) -> a flat PyTorch-style `state_dict`.

Key names (the torch modules of `jaxlab.export` use the same):
    flax  params/body/body_{i}/{kernel,bias}   ->  body.{i}.{weight,bias}        Linear: kernel.T
    flax  params/body/conv_{i}/{kernel,bias}   ->  conv.{i}.{weight,bias}        Conv2d: HWIO -> OIHW
    flax  params/policy_head, params/value_head ->  policy_head.*, value_head.*
    flax  params/log_std                        ->  log_std
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _layer_name(flax_name: str) -> str:
    kind, _, index = flax_name.rpartition("_")
    return f"{kind}.{index}" if index.isdigit() else flax_name


def _tensor(path: tuple[str, ...], leaf: np.ndarray) -> np.ndarray:
    leaf = np.asarray(leaf, dtype=np.float32)
    if path[-1] == "kernel":
        # Dense [in, out] -> [out, in]; Conv [h, w, in, out] -> [out, in, h, w].
        leaf = leaf.T if leaf.ndim == 2 else np.transpose(leaf, (3, 2, 0, 1))
    return np.ascontiguousarray(leaf)


def flax_to_state_dict(variables: Mapping) -> dict[str, np.ndarray]:
    """The state_dict of one network's Flax variables ({"params": {...}}), as float32 numpy arrays."""
    out: dict[str, np.ndarray] = {}

    def walk(node: Mapping, path: tuple[str, ...]) -> None:
        for key, child in node.items():
            if isinstance(child, Mapping):
                walk(child, (*path, key))
                continue
            names = [_layer_name(p) for p in path if p != "body"]  # the Body submodule is flattened
            leaf_name = {"kernel": "weight", "bias": "bias"}.get(key, key)
            out[".".join([*names, leaf_name])] = _tensor((*path, key), child)

    walk(variables["params"], ())
    return out
