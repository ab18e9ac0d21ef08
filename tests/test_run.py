"""Hostile input: nothing a user types may crash the CLI with a traceback or write outside data/.

Every bad input ends with ONE line on stderr (`jaxlab: error: ...`) and exit code 2, before anything is
compiled (the autouse fixture fails any test that reaches the compiler) and, for specs that are refused,
before the run folder exists.
"""

import errno
import json
import os
import subprocess
import sys

import pytest
import yaml

from jaxlab import run
from jaxlab.engine import Engine
from jaxlab.io import files
from tests.specs import tiny_spec


@pytest.fixture(autouse=True)
def no_compilation(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("a bad input reached compilation")

    monkeypatch.setattr(Engine, "compile", refuse)


def write(tmp_path, content, name="spec.yaml"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def tiny_yaml(tmp_path, **sections):
    return write(tmp_path, yaml.safe_dump(tiny_spec(**sections)))


def refused(capsys, argv, message, data_dir=None) -> str:
    """Run the CLI in-process; assert exit 2, one line naming `message`, no traceback, no run folder."""
    if data_dir is not None:
        argv = [*argv, "--data-dir", str(data_dir)]
    assert run.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("jaxlab: error: ") and captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert message in captured.err, captured.err
    assert len(captured.err) < 600, captured.err
    if data_dir is not None and os.path.exists(data_dir):
        assert os.listdir(data_dir) == [], "a refused spec wrote into the data folder"
    return captured.err


# ---- files -------------------------------------------------------------------------------------


def test_python_tags_are_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = write(tmp_path, f"name: x\nmeta: !!python/object/apply:os.system ['touch {marker}']\n")
    refused(capsys, [path], "is not valid YAML at line 2")
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "is a binary file"),
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"name: caf\xe9\n", "is not UTF-8 text"),
        (b"- ppo\n- cartpole\n", "must hold a mapping of spec names to specs, not a list"),
        (b"just a sentence", "must hold a mapping"),
        (b"name: x\nenv: {name: CartPole-v1\n", "is not valid YAML at line 3"),
        (b"name: x\n\tenv: 1\n", "is not valid YAML at line 2"),
        (b"name: 2020-13-45\n", "is not valid YAML: month must be in 1..12"),  # safe_load raises ValueError
        (b"meta: !!timestamp nonsense\n", "is not valid YAML"),  # ... and AttributeError
        (b"a: " + b"[" * 50_000 + b"]" * 50_000, "is not valid YAML: it is nested too deeply"),
        (b"x" * (2**20 + 1), "is over 1 MiB"),
    ],
)
def test_bad_files(tmp_path, capsys, content, message):
    refused(capsys, [write(tmp_path, content)], message)


def test_bad_json_spec(tmp_path, capsys):
    refused(capsys, [write(tmp_path, '{"name": "x",', name="spec.json")], "is not valid JSON")


def test_missing_folder_and_special_files(tmp_path, capsys):
    refused(capsys, [str(tmp_path / "nope.yaml")], "does not exist")
    refused(capsys, [str(tmp_path)], "is a folder")
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it would block forever
    refused(capsys, [str(fifo)], "is not a regular file")
    refused(capsys, ["/dev/zero"], "is not a regular file")  # reading it would never end


def test_alias_bomb_gives_a_short_message(tmp_path, capsys):
    """9**8 leaves behind eight aliases: the error names the key without printing them all."""
    levels = ["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"&{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefg", "bcdefgh", strict=True)
    ]
    bomb = f"agent:\n  algorithm: {{name: PPO}}\n  net:\n    hid_layers: [{', '.join(levels)}]\n"
    path = write(tmp_path, bomb + "env: {name: CartPole-v1, max_frame: 1000}\n")
    refused(
        capsys,
        [path],
        "agent.net.hid_layers must be a list of positive ints, got [[1, 1, 1, 1, 1, 1, 1, 1, ...]",
    )


# ---- values ------------------------------------------------------------------------------------

BAD_VALUES = [
    ({"env": {"num_env": 4}}, "unknown key env.num_env — did you mean env.num_envs?"),
    ({"meta": {"max_sesion": 4}}, "did you mean meta.max_session?"),
    ({"env": {"num_envs": "4x"}}, "env.num_envs must be a number"),
    ({"env": {"num_envs": True}}, "env.num_envs must be a number (>= 1), got True"),
    ({"env": {"num_envs": 0}}, "env.num_envs = 0 is out of range — it must be >= 1"),
    ({"env": {"num_envs": 10**30}}, "is too large — at most 2,147,483,647"),
    ({"env": {"max_frame": "1e400"}}, "env.max_frame must be a finite number"),
    ({"agent": {"net": {"optim_spec": {"lr": [0.001]}}}}, "agent.net.optim_spec.lr must be a number"),
    ({"agent": {"net": {"optim_spec": {"lr": -0.001}}}}, "agent.net.optim_spec.lr = -0.001 is out of range"),
    (
        {"agent": {"algorithm": {"name": "PPO", "gamma": 1.01}}},
        "agent.algorithm.gamma = 1.01 is out of range",
    ),
    (
        {"agent": {"net": {"hid_layers": [64, 10**12]}}},
        "agent.net.hid_layers = [64, 1000000000000] is out of range",
    ),
    ({"agent": {"net": {"hid_layers": "64,64"}}}, "agent.net.hid_layers must be a list of positive ints"),
    ({"env": {"name": "CartPol-v1"}}, "is not a known environment — did you mean CartPole-v1?"),
    ({"env": {"name": ["CartPole-v1"]}}, "env.name must be a string"),
    ({"agent": {"algorithm": {"name": "PPO2"}}}, "is not a known algorithm"),
    ({"agent": {"algorithm": {"name": {"x": 1}}}}, "is not a known algorithm"),
    ({"agent": "PPO"}, "agent must be a mapping of keys, got str"),
    ({"name": "../x"}, "is not usable as a folder name"),
    ({"name": "a/b"}, "is not usable as a folder name"),
    ({"name": "/tmp/x"}, "is not usable as a folder name"),
    ({"name": ""}, "is not usable as a folder name"),
    ({"name": "."}, "is not usable as a folder name"),
    ({"name": "x" * 1000}, "name is 1000 characters long"),
    ({"name": 12}, "name must be a string"),
]


@pytest.mark.parametrize("change, message", BAD_VALUES)
def test_bad_values(tmp_path, capsys, change, message):
    raw = tiny_spec()
    for section, values in change.items():
        if isinstance(values, dict) and isinstance(raw[section], dict):
            for key, value in values.items():
                if isinstance(value, dict) and isinstance(raw[section].get(key), dict):
                    raw[section][key] = {**raw[section][key], **value}
                else:
                    raw[section][key] = value
        else:
            raw[section] = values
    refused(capsys, [write(tmp_path, yaml.safe_dump(raw))], message, tmp_path / "data")


@pytest.mark.parametrize(
    "override, message",
    [
        ("env.num_envs", "is not key=value — write e.g. -s env.num_envs=8"),
        ("env.num_envz=8", "unknown key env.num_envz — did you mean env.num_envs?"),
        ("agent.nett.hid_layers=[8]", "unknown key agent.nett — did you mean agent.net?"),
        ("env..name=x", "is not a dotted key"),
        ("env.num_envs={", "the value is not valid YAML"),
        ("env.num_envs=!!python/object/apply:os.getcwd []", "the value is not valid YAML"),
        ("name=2020-13-45", "the value is not valid YAML: month must be in 1..12"),
        ("env.name.x=1", "is a value, not a section"),
    ],
)
def test_bad_overrides(tmp_path, capsys, override, message):
    refused(capsys, [tiny_yaml(tmp_path), "-s", override], message, tmp_path / "data")


def test_bad_mode_and_flags(tmp_path, capsys):
    path = tiny_yaml(tmp_path)
    refused(capsys, [path, "play"], "unknown mode 'play'")
    refused(capsys, [path, "--episodes", "0"], "--episodes 0 must be at least 1")
    refused(capsys, [path, "--episodes", "many"], "invalid int value")
    refused(capsys, [], "give a spec file")
    refused(capsys, ["train"], "train needs a spec file")
    refused(capsys, [path, "dev", "extra"], "too many arguments: extra")


def test_usage_names_every_mode(tmp_path, capsys):
    err = refused(capsys, [tiny_yaml(tmp_path), "--bogus"], "unrecognized arguments: --bogus")
    assert "train@" in err and "enjoy@" in err


def test_enjoy_without_a_spec_file_says_what_is_wrong(tmp_path, capsys):
    """No SPEC: the trial spec named by enjoy@ is the spec (not "spec file enjoy@... does not exist")."""
    refused(capsys, [f"enjoy@{tmp_path}/nope/tiny_t0_spec.json"], "give a trial spec of a run")


def test_overrides_are_refused_in_enjoy_mode(tmp_path, capsys):
    refused(capsys, [f"enjoy@{tmp_path}/x_t0_spec.json", "-s", "env.num_envs=2"], "-s has no effect there")


@pytest.mark.parametrize(
    "drop, key",
    [
        (("env", "name"), "env.name"),
        (("env", "max_frame"), "env.max_frame"),
        (("agent", "algorithm", "name"), "agent.algorithm.name"),
        (("agent",), "agent.algorithm.name"),
        (("env",), "env.name"),
    ],
)
def test_required_keys_have_no_default(tmp_path, capsys, drop, key):
    raw = tiny_spec()
    node = raw
    for part in drop[:-1]:
        node = node[part]
    del node[drop[-1]]
    refused(capsys, [write(tmp_path, yaml.safe_dump(raw))], f"{key} is required", tmp_path / "data")


def test_a_gymnasium_id_gets_no_far_fetched_suggestion(tmp_path, capsys):
    err = refused(
        capsys, [tiny_yaml(tmp_path), "-s", "env.name=LunarLander-v2"], "env.name = 'LunarLander-v2'"
    )
    assert "did you mean" not in err


def test_ray_backend_without_ray_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    raw = {
        **tiny_spec(meta={"search_backend": "ray"}),
        "search": {"agent.algorithm.gamma__uniform": [0.9, 0.99]},
    }
    err = refused(
        capsys, [write(tmp_path, yaml.safe_dump(raw)), "search"], "needs Ray Tune", tmp_path / "data"
    )
    assert 'pip install -e ".[ray]"' in err and 'pip install -e ".[ray]"' in open("README.md").read()


# ---- sizes: refused from shapes, before anything is allocated, compiled or written --------------


@pytest.mark.parametrize(
    "overrides",
    [
        ["env.num_envs=1000000000"],
        ["agent.net.hid_layers=[1000000, 1000000]"],
        ["meta.max_session=1000000000"],
        [  # a replay memory of MinAtar frames: max_size x 2 x 400 bytes per session
            "agent={algorithm: {name: DQN}, memory: {max_size: 2000000000}}",
            "env.name=Breakout-MinAtar",
        ],
    ],
)
def test_absurd_sizes_are_refused_with_the_estimate(tmp_path, capsys, overrides):
    argv = [tiny_yaml(tmp_path)] + [arg for override in overrides for arg in ("-s", override)]
    err = refused(capsys, argv, "of host memory available — lower env.num_envs", tmp_path / "data")
    assert "would need" in err and "GiB" in err


def test_replay_size_past_int32_is_refused(tmp_path, capsys):
    argv = [tiny_yaml(tmp_path), "-s", "agent={algorithm: {name: DQN}, memory: {max_size: 1e10}}"]
    refused(capsys, argv, "agent.memory.max_size = '1e10' is too large", tmp_path / "data")


def test_frames_past_the_int32_counter_are_refused(tmp_path, capsys):
    argv = [tiny_yaml(tmp_path), "-s", "env.max_frame=2147483000", "-s", "meta.log_frequency=1000000000"]
    refused(capsys, argv, "past the 2,147,483,647 that jaxlab's int32 frame counter holds", tmp_path / "data")


# ---- where output goes -------------------------------------------------------------------------


def test_unwritable_data_dir(tmp_path, capsys):
    path = tiny_yaml(tmp_path)
    a_file = write(tmp_path, "not a folder", name="file.txt")
    refused(capsys, [path, "--data-dir", a_file], "is a file, not a folder")
    refused(capsys, [path, "--data-dir", os.path.join(a_file, "data")], "is not a writable folder")


def test_enjoy_needs_an_existing_trial_spec(tmp_path, capsys):
    path = tiny_yaml(tmp_path)
    refused(capsys, [path, f"enjoy@{tmp_path}/nope/tiny_t0_spec.json"], "give a trial spec of a run")
    refused(capsys, [path, f"enjoy@{path}"], "no run wrote it")  # a config, not a trial spec
    garbage = write(tmp_path, "{not json", name="tiny_t0_spec.json")
    refused(capsys, [path, f"enjoy@{garbage}"], "is not the trial spec of a run")
    config_as_json = write(tmp_path, json.dumps(tiny_spec()), name="tiny_t0_spec.json")
    refused(capsys, [path, f"enjoy@{config_as_json}"], "no run wrote it")


# ---- a full disk -------------------------------------------------------------------------------


def enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "simulated")


def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path, monkeypatch):
    target = tmp_path / "df.csv"
    files.write_text(str(target), "old rows\n")
    with monkeypatch.context() as patch:
        patch.setattr(files.os, "replace", enospc)
        with pytest.raises(OSError, match="No space left"):
            files.write_text(str(target), "new rows\n")

    def half_written(tmp: str) -> None:  # the write itself fails part way
        with open(tmp, "w") as f:
            f.write("new r")
        enospc()

    with pytest.raises(OSError):
        files.atomic_write(str(target), half_written)
    assert target.read_text() == "old rows\n"
    assert os.listdir(tmp_path) == ["df.csv"]  # no temp file left behind


def test_full_disk_during_a_run_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(files.os, "replace", enospc)
    data_dir = tmp_path / "data"
    assert run.main([tiny_yaml(tmp_path), "--data-dir", str(data_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "jaxlab: error: No space left on device: simulated — free some disk space or pick another"
        " --data-dir (the files written so far are intact)\n"
    )
    (run_folder,) = os.listdir(data_dir)
    leftovers = [
        name for _, _, names in os.walk(data_dir / run_folder) for name in names if name.startswith(".tmp_")
    ]
    assert leftovers == []


# ---- a real process: nothing but the one line on stderr -----------------------------------------


def test_real_process_prints_one_line_and_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    bad = write(tmp_path, f"name: !!python/object/apply:os.system ['touch {marker}']\n", name="bad.yaml")
    huge = tiny_yaml(tmp_path)
    for argv, message in [
        ([bad], "is not valid YAML at line 1"),
        ([huge, "-s", "agent.net.hid_layers=[1000000, 1000000]"], "GiB of host memory available"),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "jaxlab.run", *argv, "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("jaxlab: error: "), proc.stderr
        assert message in proc.stderr
    assert not marker.exists()
    assert os.listdir(tmp_path / "data") == []
