"""TensorBoard events via tensorboardX: one writer per session in `log/`, every DataFrame column as a
scalar against frame (`train/total_reward`, `eval/total_reward`, ...)."""

from __future__ import annotations

from tensorboardX import SummaryWriter


class SessionWriters:
    def __init__(self, log_dir: str, session_prefixes: list[str]):
        self.writers = [SummaryWriter(log_dir, filename_suffix=f".{prefix}") for prefix in session_prefixes]

    def add_rows(self, session: int, kind: str, rows: list[dict]) -> None:
        writer = self.writers[session]
        for row in rows:
            for column, value in row.items():
                if column != "frame":
                    writer.add_scalar(f"{kind}/{column}", value, global_step=int(row["frame"]))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
