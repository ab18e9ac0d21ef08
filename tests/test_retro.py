"""Retro-analysis: the metrics, graphs and zip of a run folder made again from its CSVs."""

import zipfile

from jaxlab import retro


def test_retro_rebuilds_the_same_metrics_and_graphs(run_folder, tmp_path):
    info = run_folder / "info"
    written = {p.name: p.read_text() for p in info.glob("*metrics*.json")}
    graph_names = sorted(p.name for p in (run_folder / "graph").iterdir())
    for path in info.glob("*metrics*.json"):
        path.unlink()
    for path in (run_folder / "graph").glob("*.png"):
        path.unlink()
    zip_path = run_folder.parent / f"{run_folder.name}.zip"
    zip_path.write_bytes(b"stale")
    assert retro.main([str(run_folder)]) == 0
    assert {p.name: p.read_text() for p in info.glob("*metrics*.json")} == written
    assert sorted(p.name for p in (run_folder / "graph").iterdir()) == graph_names
    with zipfile.ZipFile(zip_path) as archive:  # the zip is made again from the folder
        assert f"{run_folder.name}/info/tiny_t0_trial_metrics.json" in archive.namelist()


def test_retro_rejects_a_non_run_folder(tmp_path, capsys):
    assert retro.main([str(tmp_path)]) == 2
    assert "is not a jaxlab run folder" in capsys.readouterr().err
