"""Atomic file writes: a temp file in the same folder, then os.replace, so readers and crashes
never see half a file. Files get the permissions a plain `open()` gives under the umask."""

from __future__ import annotations

import json
import os
import secrets
import zipfile
from collections.abc import Callable

TEMP_PREFIX = ".tmp_"  # temp files of writes under way; a run stopped at once may leave one behind


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)` and move the result onto `path` in one step. The temp file is created with
    mode 0o666 filtered by the umask, as `open(path, "w")` would create `path` (mkstemp's 0o600 would
    keep a colleague on a shared machine from reading the results)."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(4)}_{name}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path: str, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


# Already compressed: deflating them again costs most of a zip's time and saves little.
STORED_SUFFIXES = (".png", ".pt", ".zip")


def zip_folder(folder: str) -> str:
    """`{folder}.zip` beside the folder, holding it under its own name; returns the zip's path. Text is
    deflated at level 1 (most of level 9's gain at a fraction of its time); PNGs and .pt files are stored."""
    folder = folder.rstrip(os.sep)
    target = folder + ".zip"
    parent = os.path.dirname(folder) or "."

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for root, _, files in os.walk(folder):
                for name in sorted(files):
                    if name.startswith(TEMP_PREFIX):  # a write under way elsewhere, or left by a stopped run
                        continue
                    path = os.path.join(root, name)
                    stored = name.endswith(STORED_SUFFIXES)
                    archive.write(
                        path,
                        os.path.relpath(path, parent),
                        zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
                    )

    atomic_write(target, write)
    return target
