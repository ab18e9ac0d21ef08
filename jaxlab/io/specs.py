"""`{name}_spec.json` (the spec as run) and `{name}_t{T}_spec.json` (the trial spec with runtime meta:
everything needed to run the trial again and get the same numbers)."""

from __future__ import annotations

import os
import subprocess
from importlib import metadata

from jaxlab.io.files import write_json
from jaxlab.io.paths import RunPaths


def git_sha() -> str:
    """The commit of the jaxlab checkout, or "unknown" outside a git checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def versions() -> dict[str, str]:
    found = {}
    for package in ("jaxlab", "jax", "jaxlib", "flax", "optax", "gymnax"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "unknown"
    return found


def write_spec(paths: RunPaths, spec: dict) -> str:
    path = os.path.join(paths.root, f"{paths.name}_spec.json")
    write_json(path, spec)
    return path


def write_trial_spec(paths: RunPaths, trial: int, spec: dict, runtime_meta: dict) -> str:
    """The trial spec: `spec` with `runtime_meta` (see spec.RUNTIME_META_KEYS) merged into meta."""
    path = os.path.join(paths.root, f"{paths.trial_prefix(trial)}_spec.json")
    write_json(path, {**spec, "meta": {**spec["meta"], **runtime_meta}})
    return path
