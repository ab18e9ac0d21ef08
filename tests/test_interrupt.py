"""A second SIGINT/SIGTERM stops a run at once, even mid-save, and says truly what was saved."""

import json
import re
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import interrupt, only_folder, session_df, start_cli, wait_for_rows, write_spec
from tests.specs import tiny_spec

LONG_RUN = ["-s", "env.max_frame=5000000", "-s", "meta.rigorous_eval=0"]


@pytest.mark.parametrize("signum, gap", [(signal.SIGINT, 0.3), (signal.SIGTERM, 1.2)])
def test_a_second_signal_stops_at_once_and_says_what_was_saved(tmp_path, signum, gap):
    child = start_cli(
        write_spec(tmp_path, tiny_spec(meta={"log_frequency": 1024})), tmp_path / "data", *LONG_RUN
    )
    wait_for_rows(child, tmp_path / "data")
    sent = time.time()
    err = interrupt(child, gap, signum=signum)
    assert time.time() - sent < gap + 5  # not the rest of the save: at once
    assert child.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert f"{name} again: stopped at once" in err and "the session CSVs up to frame" in err
    folder = only_folder(tmp_path / "data")
    saved = re.search(r"the training state at frame ([\d,]+)", err)
    if saved:  # what it says is saved is there, and resumable
        progress = json.loads(Path(f"{folder}/model/tiny_t0_train_state/progress.json").read_text())
        assert progress["frame"] == int(saved[1].replace(",", ""))
    else:
        assert "the training state, so the run cannot be resumed" in err
    frame = int(re.search(r"up to frame ([\d,]+)", err)[1].replace(",", ""))
    assert session_df(folder, 0, "train")["frame"].iloc[-1] == frame
