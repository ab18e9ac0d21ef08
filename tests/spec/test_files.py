"""Spec files in SLM Lab's format: named specs, `_` anchors and YAML merges, `${var}` filled by -s as SLM Lab
fills it (numbers stay numbers, `-s env=` names the run), dotted overrides, one-line errors."""

import pytest

from jaxlab import spec
from jaxlab.spec.files import read_specs

FILE = """
_algo: &algo
  name: PPO
  gamma: 0.99
  time_horizon: 16
  minibatch_size: 32
_net: &net
  hid_layers: [16]
first:
  agent: {name: PPO, algorithm: *algo, memory: {name: OnPolicyBatchReplay}, net: *net}
  env: {name: CartPole-v1, num_envs: 4, max_frame: 2048}
  meta: {max_session: 1}
second:
  agent:
    name: PPO
    algorithm: {<<: *algo, gamma: 0.9}
    memory: {name: OnPolicyBatchReplay}
    net: *net
  env: {name: "${env}", num_envs: 4, max_frame: "${max_frame}"}
  meta:
    max_session: 1
    log_frequency: ${log}
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "specs.yaml"
    path.write_text(FILE)
    return str(path)


def test_named_specs_anchors_and_merges(spec_file):
    specs = read_specs(spec_file, ["env=Acrobot-v1", "max_frame=1000", "log=100"])[0].specs
    assert list(specs) == ["first", "second"]  # _algo and _net hold anchors, not specs
    first = spec.load(spec_file, [], "first")
    assert first["name"] == "first" and first["agent"]["algorithm"]["gamma"] == 0.99
    second = spec.load(spec_file, ["env=Acrobot-v1", "max_frame=3e3", "log=500"], "second")
    assert second["agent"]["algorithm"]["gamma"] == 0.9 and second["agent"]["algorithm"]["time_horizon"] == 16


def test_placeholders_are_filled_as_slm_lab_fills_them(spec_file):
    """A number replaces a quoted placeholder as a number (3e3 -> 3000); -s env= adds SLM Lab's suffix."""
    second = spec.load(spec_file, ["env=Acrobot-v1", "max_frame=3e3", "log=500"], "second")
    assert second["env"]["name"] == "Acrobot-v1" and second["env"]["max_frame"] == 3000
    assert second["meta"]["log_frequency"] == 500 and second["name"] == "second_acrobot"
    # a dotted -s still sets that key
    dotted = spec.load(
        spec_file, ["env=CartPole-v1", "max_frame=1000", "log=64", "meta.max_session=3"], "second"
    )
    assert dotted["meta"]["max_session"] == 3 and dotted["name"] == "second_cartpole"


@pytest.mark.parametrize(
    "name, assignments, message",
    [
        (None, [], "holds 2 specs — name one: first, second"),
        ("frist", [], "has no spec 'frist' — did you mean first?"),
        (
            "second",
            ["env=Acrobot-v1", "log=5"],
            "${max_frame} left unfilled — give each with -s, e.g. -s max_frame=...",
        ),
        ("first", ["meta=3"], "the spec has no ${meta} placeholder to fill — set a key with a dotted name"),
    ],
)
def test_file_errors_are_one_line(spec_file, name, assignments, message):
    with pytest.raises(spec.SpecError) as error:
        spec.load(spec_file, assignments, name)
    assert message in str(error.value) and "\n" not in str(error.value)
