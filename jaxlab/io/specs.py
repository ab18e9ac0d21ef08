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
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
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
    """The spec as run (overrides applied), with SLM Lab's runtime meta keys (experiment, prepaths, ...)."""
    write_json(
        paths.spec(), {**spec, "meta": {**spec["meta"], "experiment_ts": paths.ts, **paths.slm_meta()}}
    )
    return paths.spec()


def write_trial_spec(paths: RunPaths, trial: int, spec: dict, runtime_meta: dict) -> str:
    """The trial spec: `spec` with `runtime_meta` (see spec.RUNTIME_META_KEYS) and SLM Lab's runtime meta
    keys of the trial merged into meta."""
    write_json(
        paths.trial_spec(trial), {**spec, "meta": {**spec["meta"], **runtime_meta, **paths.slm_meta(trial)}}
    )
    return paths.trial_spec(trial)
