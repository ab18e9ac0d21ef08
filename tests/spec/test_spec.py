"""Spec loading, defaults, overrides, and the one-line errors for bad input (exit code 2)."""

import subprocess
import sys

import pytest
import yaml

from jaxlab import run, spec
from tests.specs import tiny_spec


def write(tmp_path, content, name="spec.yaml", mode="w"):
    path = tmp_path / name
    with open(path, mode) as f:
        f.write(content)
    return str(path)


def test_defaults_are_filled_and_values_kept(tmp_path):
    path = write(tmp_path, yaml.safe_dump(tiny_spec()))
    loaded = spec.load(path)
    assert loaded["agent"]["algorithm"]["time_horizon"] == 16
    assert loaded["agent"]["algorithm"]["gamma"] == 0.99  # default
    assert loaded["env"]["normalize_obs"] is False


def test_overrides_are_parsed_as_yaml(tmp_path):
    path = write(tmp_path, yaml.safe_dump(tiny_spec()))
    loaded = spec.load(
        path, ["agent.net.hid_layers=[32, 8]", "meta.max_session=3", "agent.net.optim_spec.lr=1e-4"]
    )
    assert loaded["agent"]["net"]["hid_layers"] == [32, 8]
    assert loaded["meta"]["max_session"] == 3
    assert loaded["agent"]["net"]["optim_spec"]["lr"] == pytest.approx(1e-4)


def test_numbers_in_yaml_1_1_string_form_are_accepted(tmp_path):
    path = write(tmp_path, yaml.safe_dump(tiny_spec()).replace("max_frame: 2048", "max_frame: 5e5"))
    assert spec.load(path)["env"]["max_frame"] == 500_000


def test_shipped_configs_validate():
    import glob

    paths = sorted(glob.glob("configs/*.yaml"))
    assert paths
    for path in paths:
        spec.load(path)


BAD_SPECS = [
    ({"env": {"num_env": 4}}, "unknown key env.num_env — did you mean env.num_envs?"),
    ({"agent": {"algorithm": {"name": "PPO", "gama": 0.9}}}, "did you mean agent.algorithm.gamma?"),
    ({"env": {"num_envs": "four"}}, "env.num_envs must be a number"),
    ({"env": {"num_envs": 2.5}}, "env.num_envs must be a whole number"),
    ({"env": {"num_envs": 0}}, "env.num_envs = 0 is out of range"),
    ({"agent": {"algorithm": {"name": "PPO", "gamma": 1.5}}}, "agent.algorithm.gamma = 1.5 is out of range"),
    ({"env": {"name": "CartPole-v0"}}, "did you mean CartPole-v1?"),
    ({"agent": {"algorithm": {"name": "PPOO"}}}, "is not a known algorithm"),
    ({"agent": {"net": {"hid_layers_activation": "tahn"}}}, "did you mean tanh?"),
    ({"agent": {"net": {"hid_layers": [64, -1]}}}, "agent.net.hid_layers"),
    ({"agent": {"net": {"shared": "yes"}}}, "agent.net.shared must be true or false"),
    ({"name": "../escape"}, "is not usable as a folder name"),
    ({"meta": {"random_seed": -1}}, "meta.random_seed = -1 is out of range"),
    ({"agent": {"net": {"type": "ConvNet"}}}, "ConvNet needs image observations"),
    (
        {
            "env": {"name": "Breakout-MinAtar"},
            "agent": {"net": {"type": "ConvNet", "conv_hid_layers": [[8, 11, 1]]}},
        },
        "has kernel 11 but its input is only 10 pixels wide",
    ),
    ({"agent": {"net": {"lr_scheduler_spec": {"name": "LinearToZer"}}}}, "did you mean LinearToZero?"),
]


@pytest.mark.parametrize("change, message", BAD_SPECS)
def test_bad_spec_values_exit_2_with_one_line(tmp_path, capsys, change, message):
    raw = tiny_spec()
    for section, values in change.items():
        if isinstance(values, dict):
            for key, value in values.items():
                target = raw[section]
                if isinstance(value, dict) and isinstance(target.get(key), dict):
                    target[key] = {**target[key], **value}
                else:
                    target[key] = value
        else:
            raw[section] = values
    path = write(tmp_path, yaml.safe_dump(raw))
    assert run.main([path]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


BAD_FILES = [
    ("name: x\nagent: [unclosed", "is not valid YAML at line 2"),
    ("", "is empty"),
    ("- a\n- b\n", "must hold a mapping"),
    ("name: x\nbad: !!python/object/apply:os.system ['echo hi']\n", "is not valid YAML"),
]


@pytest.mark.parametrize("content, message", BAD_FILES)
def test_bad_files_exit_2(tmp_path, capsys, content, message):
    assert run.main([write(tmp_path, content)]) == 2
    assert message in capsys.readouterr().err


def test_binary_and_missing_files(tmp_path, capsys):
    assert run.main([write(tmp_path, b"\x00\x01\x02", mode="wb")]) == 2
    assert "binary file" in capsys.readouterr().err
    assert run.main([str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run.main([str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "override, message",
    [
        ("env.num_envs", "is not key=value"),
        ("env.num_envs=[1, 2", "not valid YAML"),
        ("env.num_envs.x=1", "is a value, not a section"),
        ("env.nmu_envs=8", "did you mean env.num_envs?"),
        ("=3", "is not a dotted key"),
    ],
)
def test_bad_overrides_exit_2(tmp_path, capsys, override, message):
    path = write(tmp_path, yaml.safe_dump(tiny_spec()))
    assert run.main([path, "-s", override]) == 2
    assert message in capsys.readouterr().err


def test_bad_mode_and_flag(tmp_path, capsys):
    path = write(tmp_path, yaml.safe_dump(tiny_spec()))
    assert run.main([path, "fly"]) == 2
    assert "unknown mode 'fly'" in capsys.readouterr().err
    assert run.main([path, "--frobnicate"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_cli_error_has_no_traceback_in_a_real_process(tmp_path):
    path = write(tmp_path, yaml.safe_dump(tiny_spec(env={"num_env": 4})))
    proc = subprocess.run([sys.executable, "-m", "jaxlab.run", path], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "jaxlab: error: unknown key env.num_env — did you mean env.num_envs?"
