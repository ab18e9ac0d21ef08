"""The `jaxlab` command as SLM Lab's `slm-lab`: `jaxlab run SPEC_FILE SPEC_NAME MODE` with options anywhere,
`jaxlab plot` (the multi-run comparison graph) and `jaxlab retro`."""

import os

from jaxlab import cli
from tests.spec.test_files import FILE


def test_run_takes_spec_names_modes_and_options_in_any_order(tmp_path, capsys):
    path = tmp_path / "specs.yaml"
    path.write_text(FILE)
    data = str(tmp_path / "data")
    options = [
        "-s",
        "env=CartPole-v1",
        "-s",
        "max_frame=1024",
        "-s",
        "log=512",
        "--data-dir",
        data,
        "--no-progress",
    ]
    assert cli.main(["run", str(path), "second", "dev", *options]) == 0
    assert cli.main(["run", *options, str(path), "first", "dev"]) == 0
    folders = sorted(p.name.rsplit("_", 4)[0] for p in (tmp_path / "data").iterdir() if p.is_dir())
    assert folders == ["first_cartpole", "second_cartpole"]  # -s env= names every run, as in SLM Lab
    capsys.readouterr()
    assert cli.main(["run", str(path), "secnd", "dev"]) == 2
    assert "has no spec 'secnd' and it is not a mode — did you mean second?" in capsys.readouterr().err


def test_plot_compares_runs_with_algorithm_legends(run_folder, tmp_path, capsys):
    out = tmp_path / "plots"
    assert cli.main(["plot", "-f", f"{run_folder},{run_folder}", "-t", "two runs", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    (html,) = [name for name in os.listdir(out) if name.endswith(".html")]
    text = (out / html).read_text()
    assert "two runs" in text and "PPO (1)" in text and "PPO (2)" in text and html in printed
    assert cli.main(["plot", "-f", str(run_folder), "-l", "a,b", "-o", str(out)]) == 2
    assert "2 legends for 1 folders" in capsys.readouterr().err


def test_retro_and_unknown_commands(run_folder, capsys):
    assert cli.main(["retro", str(run_folder)]) == 0
    assert cli.main(["fly"]) == 2
    assert "unknown command 'fly' — use one of: run, plot, retro" in capsys.readouterr().err
