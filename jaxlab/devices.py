"""Where sessions run: their sharding over the devices, the memory there, the compilation cache."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MEMORY_SHARE = 0.9  # of the accelerator's memory that one program may plan to use


def session_sharding(num_sessions: int) -> NamedSharding:
    """Sessions split evenly over as many devices as divide their number (1 device: no split). On
    CPU, importing jaxlab asks XLA for one device per core, since XLA:CPU keeps small RL ops on one core."""
    devices = jax.devices()
    count = max(d for d in range(1, len(devices) + 1) if num_sessions % d == 0)
    mesh = Mesh(np.asarray(devices[:count]), ("sessions",))
    return NamedSharding(mesh, PartitionSpec("sessions"))


def device_memory_bytes() -> int | None:
    """What the accelerator lets XLA allocate; None on CPU, where host RAM is the limit."""
    stats = jax.devices()[0].memory_stats()
    return stats.get("bytes_limit") if stats else None


def tree_bytes(tree: Any) -> int:
    """Bytes of a pytree of arrays or shapes."""
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache, so a second run of the same program starts fast. Global JAX
    configuration: called once at start-up, by the experiment drivers."""
    cache_dir = os.environ.get(
        "JAXLAB_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "jaxlab", "xla")
    )
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
