"""Flax linen params (nested dicts of numpy arrays) -> a flat PyTorch `state_dict`.

The Flax layers are named by their PyTorch keys already (`jaxlab.algos.networks`): a key is the path of
names below the network, without the `body` submodule's level, and the leaf's PyTorch name:
    Dense   kernel [in, out] -> weight [out, in], bias
    Conv    kernel [h, w, in, out] -> weight [out, in, h, w], bias
    LayerNorm scale -> weight, bias
    a parameter (log_std) keeps its name
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

LEAF_NAMES = {"kernel": "weight", "scale": "weight", "bias": "bias"}


def _tensor(leaf_name: str, leaf: np.ndarray) -> np.ndarray:
    leaf = np.asarray(leaf, dtype=np.float32)
    if leaf_name == "kernel":
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
            names = path[1:] if path[:1] == ("body",) else path  # the Body submodule's own level goes
            out[".".join([*names, LEAF_NAMES.get(key, key)])] = _tensor(key, child)

    walk(variables["params"], ())
    return out
