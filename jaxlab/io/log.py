"""The run's text log: console (through tqdm, so the progress bar stays intact) and log/{name}_t{T}.log."""

from __future__ import annotations

import logging

from tqdm import tqdm

LOGGER = "jaxlab"


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record))


def setup(log_paths: list[str] = (), verbose: bool = False) -> logging.Logger:
    """Configure the `jaxlab` logger afresh: console always, and the run's log files (a search writes its
    log to every trial's file)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    console = _TqdmHandler()
    console.setFormatter(logging.Formatter("[%(asctime)s jaxlab] %(message)s", "%H:%M:%S"))
    logger.addHandler(console)
    for path in log_paths:
        file_handler = logging.FileHandler(path)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(file_handler)
    return logger


def get() -> logging.Logger:
    return logging.getLogger(LOGGER)
