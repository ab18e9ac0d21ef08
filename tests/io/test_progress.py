"""Progress: no carriage-return frames where stderr is not a terminal."""


def test_progress_writes_no_carriage_returns_where_stderr_is_not_a_terminal(capsys):
    import numpy as np

    from jaxlab.io.progress import Progress

    progress = Progress(1000, 2)
    progress.update(500, np.array([1.0, 2.0]))
    progress.close()
    assert "\r" not in capsys.readouterr().err
