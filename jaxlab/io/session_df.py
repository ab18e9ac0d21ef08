"""Session DataFrames: one row per checkpoint per session, docs/output.md's columns in order."""

from __future__ import annotations

import numpy as np

from jaxlab.io.files import write_text

COLUMNS = ("frame", "total_reward", "total_reward_ma", "loss", "fps", "wall_t", "t", "epi", "opt_step", "lr")


class SessionFrames:
    """Accumulates the engine's stacked rows for every session of a trial and writes their CSVs.

    Each CSV is rewritten whole (atomically) after every call; the rows are formatted once, when they
    arrive, so a rewrite costs one file write however long the run."""

    def __init__(self, num_sessions: int, extra_columns: tuple[str, ...]):
        self.columns = COLUMNS + tuple(extra_columns)
        self.rows: list[list[dict]] = [[] for _ in range(num_sessions)]
        self._csv_lines: list[list[str]] = [[",".join(self.columns) + "\n"] for _ in range(num_sessions)]

    def append(
        self, rows: dict[str, np.ndarray], wall_t: np.ndarray, first: int = 0, keep: np.ndarray | None = None
    ) -> list[list[dict]]:
        """Add checkpoint rows ([C, B] per engine column) of sessions first .. first + B - 1 that ended at
        `wall_t` [C] seconds, those where `keep` [C, B] is true (default all); returns the new rows of each
        of those sessions."""
        new: list[list[dict]] = [[] for _ in range(rows["frame"].shape[1])]
        for c in range(len(wall_t)):
            for s, session_rows in enumerate(new):
                if keep is not None and not keep[c, s]:
                    continue
                row = {name: rows[name][c, s].item() for name in self.columns if name in rows}
                row["wall_t"] = float(wall_t[c])
                row["fps"] = row["frame"] / float(wall_t[c]) if wall_t[c] > 0 else 0.0
                session_rows.append({name: row[name] for name in self.columns})
        for s, session_new in enumerate(new, start=first):
            self.rows[s].extend(session_new)
            # repr is Python's shortest round-trip form, as pandas writes floats; NaN as an empty field.
            self._csv_lines[s].extend(
                ",".join("" if v != v else repr(v) for v in row.values()) + "\n" for row in session_new
            )
        return new

    def read(self, session: int, path: str, num_rows: int) -> None:
        """A resumed session's first `num_rows` rows, from the CSV this class wrote (lines kept verbatim)."""
        with open(path) as f:
            lines = f.readlines()[: num_rows + 1]
        self._csv_lines[session] = lines
        self.rows[session] = [
            {name: _number(v) for name, v in zip(self.columns, line.rstrip("\n").split(","), strict=True)}
            for line in lines[1:]
        ]

    def write(self, session: int, path: str) -> None:
        write_text(path, "".join(self._csv_lines[session]))


def _number(text: str) -> int | float:
    """A CSV cell as `append` wrote it: an int, a float's repr, or empty for NaN."""
    if not text:
        return float("nan")
    return int(text) if text.lstrip("-").isdigit() else float(text)
