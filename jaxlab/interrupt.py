"""SIGINT / SIGTERM during a run, in two steps.

The first signal asks the run to stop at the next compiled call's boundary and save everything it has
(the host loop polls `Interrupt.signal`). The second stops at once, even while the main thread waits on
the device or on a compile, where Python runs no signal handler: Python's C-level handler writes each
signal's number to a wakeup socket, and a watcher thread reads it, prints what was and was not saved
(`SaveRecord`) and ends the process. Files are written atomically, so those already written stay whole.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import Self

from jaxlab.io import log as run_log

EXIT_SIGNAL = 128  # + the signal number, as shells report a process stopped by a signal
SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class SaveRecord:
    """What a run has on disk so far, kept up to date by the host loop, for the words of an early stop. The
    host loop writes the CSVs and updates `rows_frame` holding `lock`, which the stop takes too, so the words
    match the files; the training state is read from its own folder."""

    root: str
    total_frames: int  # per session, at the end of the run
    resume_command: str | None = None  # None: the run cannot be resumed (search)
    state_dir: str | None = None  # where the training state is saved (resumable runs)
    rows_frame: int = 0  # the CSVs hold every session's rows up to this frame
    final_weights: bool = (
        False  # the sessions' final weights are written (the ckpt-best ones go with the rows)
    )
    outputs_written: bool = False  # metrics and graphs
    lock: threading.Lock = field(default_factory=threading.Lock)

    def state_frame(self) -> int | None:
        """The frame of the training state on disk (None: none saved)."""
        if self.state_dir is None:
            return None
        try:
            with open(os.path.join(self.state_dir, "progress.json")) as f:
                return int(json.load(f)["frame"])
        except (OSError, ValueError, KeyError):
            return None

    def stopped_at_once(self, signum: int) -> str:
        """One paragraph for the user: what is in the folder and what is not."""
        name = signal.Signals(signum).name
        if self.rows_frame:
            weights = "the final and ckpt-best weights" if self.final_weights else "the ckpt-best weights"
            have = [f"the session CSVs up to frame {self.rows_frame:,} of {self.total_frames:,}", weights]
        else:
            have = ["the spec and the log (it stopped before the first row)"]
        state_frame = self.state_frame()
        if self.resume_command and state_frame is not None:
            have.append(
                f"the training state at frame {state_frame:,} (resume with: {self.resume_command}; it trains"
                f" again from frame {state_frame:,})"
            )
        missing = []
        if not self.outputs_written:
            missing.append(
                f"the metrics and graphs (jaxlab retro {self.root} makes them)"
                if self.rows_frame
                else "the metrics and graphs"
            )
        if self.resume_command and state_frame is None:
            missing.append("the training state, so the run cannot be resumed")
        missing.append("the zip")
        return (
            f"jaxlab: {name} again: stopped at once. In {self.root}: {'; '.join(have)}."
            f" Not written: {'; '.join(missing)}."
        )


class Interrupt:
    """Context for a run: `signal` is the first SIGINT/SIGTERM received (None until then)."""

    def __init__(self, record: SaveRecord | None = None):
        self.record = record
        self.signal: int | None = None
        self._previous_handlers: dict = {}
        self._previous_fd = -1
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> Self:
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            return self
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        self._sockets = (reader, writer)
        # The Python-level handler does nothing: the watcher thread acts, as soon as the signal arrives.
        self._previous_handlers = {s: signal.signal(s, lambda *_: None) for s in SIGNALS}
        self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._watcher = threading.Thread(target=self._watch, name="jaxlab-signals", daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        reader = self._sockets[0]
        while data := reader.recv(1):
            signum = data[0]
            if signum not in SIGNALS:
                continue
            if self.signal is None:
                self.signal = signum
                run_log.get().warning(
                    f"{signal.Signals(signum).name}: finishing the current call and saving everything"
                    " (again to stop at once)"
                )
                continue
            if self.record is None:
                print(
                    f"jaxlab: {signal.Signals(signum).name} again: stopped at once",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(EXIT_SIGNAL + signum)
            with (
                self.record.lock
            ):  # a CSV write under way finishes first (milliseconds), so the words are true
                print(self.record.stopped_at_once(signum), file=sys.stderr, flush=True)
                os._exit(EXIT_SIGNAL + signum)

    def __exit__(self, *exc_info: object) -> None:
        if self._sockets is None:
            return
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._sockets[1].close()
        self._sockets[0].shutdown(socket.SHUT_RDWR)  # ends the watcher's recv
        self._watcher.join(timeout=5)
        self._sockets[0].close()
