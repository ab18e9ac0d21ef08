"""jaxlab: JAX-accelerated, vectorised deep RL with SLM Lab's experiment workflow and PyTorch export."""

import os


def _one_cpu_device_per_core() -> None:
    """The engine shards sessions over devices. XLA:CPU offers one device unless told otherwise and
    then leaves the other cores mostly idle on small RL networks, so ask for one device per core.
    This must happen before JAX starts its CPU backend (importing jaxlab before using JAX is enough);
    a user's own --xla_force_host_platform_device_count wins. GPUs and TPUs are unaffected."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores}".strip()


_one_cpu_device_per_core()
