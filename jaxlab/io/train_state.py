"""The whole training state, for exact resume: `model/{name}_t{T}_train_state/` holds the sessions'
state (params, optimiser state, env states, replay buffers, RNG keys, counters) as an orbax checkpoint
and `progress.json` (checkpoints done, rows written per session). A new save is written beside the
last one and swapped in with renames, so an interrupted save leaves the previous one whole."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from jaxlab.io.files import write_json

STATE, PROGRESS = "state", "progress.json"


def save(path: str, state: Any, progress: dict) -> None:
    path = os.path.abspath(path)
    new, old = f"{path}.saving", f"{path}.old"
    for leftover in (new, old):
        if os.path.exists(leftover):
            shutil.rmtree(leftover)
    import orbax.checkpoint as ocp  # here, not at start-up: orbax takes ~0.4 s to import

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(os.path.join(new, STATE), state)
    checkpointer.wait_until_finished()
    write_json(os.path.join(new, PROGRESS), progress)
    if os.path.exists(path):
        os.rename(path, old)
    os.rename(new, path)
    if os.path.exists(old):
        shutil.rmtree(old)


def load(path: str, target: Any) -> tuple[Any, dict]:
    """The saved state, restored onto `target`'s shapes and shardings, and its progress."""
    import orbax.checkpoint as ocp

    path = os.path.abspath(path)
    with open(os.path.join(path, PROGRESS)) as f:
        progress = json.load(f)
    state = ocp.StandardCheckpointer().restore(os.path.join(path, STATE), target)
    return state, progress


def exists(path: str) -> bool:
    return os.path.exists(os.path.join(path, PROGRESS))


def remove(path: str) -> None:
    if os.path.exists(path):
        shutil.rmtree(path)
