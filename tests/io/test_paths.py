"""Run folders: claimed once, even by runs started in the same second, and locked while a run writes."""

import os
from pathlib import Path

import pytest

from jaxlab.io.paths import FOLDER, FolderInUse, ModelFile, RunPaths, release, timestamp


def test_a_folder_name_is_claimed_once(tmp_path):
    first, second = RunPaths.create("x", str(tmp_path)), RunPaths.create("x", str(tmp_path))
    assert first.root != second.root and FOLDER.fullmatch(os.path.basename(second.root))
    Path(f"{tmp_path}/x_{timestamp()}.zip").touch()  # a zip left by a run whose folder is gone
    third = RunPaths.create("x", str(tmp_path))
    assert not os.path.exists(third.zip) and third.root not in (first.root, second.root)
    for paths in (first, second, third):
        release(paths.root)


def test_a_locked_folder_is_refused_until_released(tmp_path):
    paths = RunPaths.create("x", str(tmp_path))
    with pytest.raises(FolderInUse):
        RunPaths.existing(paths.root, lock=True)
    release(paths.root)
    RunPaths.existing(paths.root, lock=True)
    release(paths.root)


def test_model_file_names_say_their_session_and_network(tmp_path):
    paths = RunPaths(str(tmp_path / "run_2026_01_01_000000"), "my_run")
    model = ModelFile.parse(paths.model(3, 1, "target_q1_net", best=True))
    assert (model.trial, model.session, model.net, model.best) == (3, 1, "target_q1_net", True)
    assert model.sibling("net") == paths.model(3, 1, "net", best=True)
    assert ModelFile.parse(str(tmp_path / "notes.txt")) is None
