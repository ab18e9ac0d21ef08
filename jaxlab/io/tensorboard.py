"""TensorBoard events via tensorboardX: one writer per session, each in its own folder
`log/{name}_t{T}_s{S}/`, so TensorBoard shows the sessions as separate runs that can be overlaid. Every
DataFrame column is a scalar against frame (`train/total_reward`, `eval/total_reward`, ...)."""

from __future__ import annotations

import glob
import os
import resource

EVENT_FILES = "events.out.tfevents.*"


class SessionWriters:
    def __init__(self, session_dirs: list[str], fresh: bool = False):
        """One writer per folder of `session_dirs`. `fresh` removes the folders' earlier event files first: a
        resumed run writes its rows again from the CSVs, so no step appears twice in a run."""
        _allow_open_files(len(session_dirs) + 256)
        if fresh:
            for folder in session_dirs:
                for path in glob.glob(os.path.join(folder, EVENT_FILES)):
                    os.remove(path)
        from tensorboardX import SummaryWriter  # here: tensorboardX (with torch) takes ~2 s to import

        # A deep queue: with the default of 10 events every add waits on the writer thread.
        self.writers = [SummaryWriter(folder, max_queue=100_000) for folder in session_dirs]

    def add_rows(self, session: int, kind: str, rows: list[dict]) -> None:
        """One event per row holding all its columns: the same scalars as one `add_scalar` per column,
        at a fraction of the cost (tensorboardX spends ~70 us per event)."""
        from tensorboardX.proto.summary_pb2 import Summary

        file_writer = self.writers[session].file_writer
        for row in rows:
            values = [
                Summary.Value(tag=f"{kind}/{k}", simple_value=float(v))
                for k, v in row.items()
                if k != "frame"
            ]
            file_writer.add_summary(Summary(value=values), global_step=int(row["frame"]))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def _allow_open_files(count: int) -> None:
    """Each writer keeps its event file open: raise the soft open-files limit (often 1024) for
    thousands of sessions, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (count if hard == resource.RLIM_INFINITY else min(count, hard), hard)
        )
