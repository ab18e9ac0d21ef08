"""SLM Lab's own spec files (benchmarks/slm_lab_spec/, as SLM Lab keeps them): every spec parses and builds,
or is refused in one line naming the part jaxlab lacks; a tiny run of each algorithm from them; the keys
whose meaning follows SLM Lab's."""

import glob
import os

import numpy as np
import pytest

from jaxlab import spec
from jaxlab.build import build
from jaxlab.spec.files import read_specs
from tests.helpers import ROOT, run_rows

SLM_SPECS = os.path.join(ROOT, "benchmarks", "slm_lab_spec")
CLASSIC = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0")
# What a refusal may name: an algorithm of the next issue, an env (or env key) jaxlab cannot make yet.
REFUSALS = (
    "is SLM Lab's, not yet jaxlab's",
    "is not an environment jaxlab runs",
    "unknown key env.",
    "action_pdtype = 'NormalTanh' is not one of",  # SLM Lab v5.3 has no NormalTanh either: it stops there
)


def fills(path: str) -> list[str]:
    """-s values for the file's ${env} and ${max_frame} placeholders, where it has them."""
    text = open(path).read()
    return [fill for fill in ("env=Hopper-v5", "max_frame=1000") if f"${{{fill.split('=')[0]}}}" in text]


def every_spec():
    for path in sorted(glob.glob(os.path.join(SLM_SPECS, "**", "*.*"), recursive=True)):
        if path.endswith((".yaml", ".json")):
            for name in read_specs(path, fills(path))[0].specs:
                yield os.path.relpath(path, SLM_SPECS), name


@pytest.mark.parametrize("file, name", list(every_spec()), ids=lambda x: str(x))
def test_every_slm_spec_builds_or_is_refused_in_one_line(file, name):
    path = os.path.join(SLM_SPECS, file)
    try:
        validated = spec.load(path, fills(path), name)
    except spec.SpecError as error:
        message = str(error)
        assert "\n" not in message and any(reason in message for reason in REFUSALS), message
        raw = read_specs(path, fills(path))[0].spec(name)
        # a classic-control spec is refused only for its algorithm (the next issue's)
        assert raw["env"]["name"] not in CLASSIC or "not yet jaxlab's" in message, message
        return
    assert validated["env"]["name"] in CLASSIC
    build(validated)


def test_every_classic_control_spec_of_jaxlabs_algorithms_builds():
    """The specs the issue names (their algorithms, their envs) are none of them refused."""
    built = [
        (file, name)
        for file, name in every_spec()
        if "crossq" not in file and not file.startswith(("benchmark_arc/ppo/ppo_m",))
    ]
    classic = 0
    for file, name in built:
        path = os.path.join(SLM_SPECS, file)
        raw = read_specs(path, fills(path))[0].spec(name)
        if raw["env"]["name"] in CLASSIC:
            build(spec.load(path, fills(path), name))
            classic += 1
    assert classic >= 35


SHRINK = ["env.max_frame=1024", "meta.max_session=2", "meta.log_frequency=256", "meta.eval_frequency=256"]
TINY = {
    "Reinforce": (
        "benchmark_arc/reinforce/reinforce_arc.yaml",
        "reinforce_cartpole_arc",
        ["agent.algorithm.training_frequency=64"],
    ),
    "ActorCritic": (
        "benchmark_arc/a2c/a2c_classic_arc.yaml",
        "a2c_gae_pendulum_arc",
        ["agent.algorithm.training_frequency=32"],
    ),
    "PPO": (
        "benchmark_arc/ppo/ppo_classic_arc.yaml",
        "ppo_cartpole_arc",
        ["agent.algorithm.time_horizon=32"],
    ),
    "VanillaDQN": ("benchmark/dqn/dqn_cartpole.json", "vanilla_dqn_boltzmann_cartpole", []),
    "DQN": ("benchmark_arc/dqn/dqn_classic_arc.yaml", "dqn_epsilon_greedy_cartpole_arc", []),
    "DoubleDQN": ("benchmark_arc/dqn/dqn_classic_arc.yaml", "ddqn_per_boltzmann_cartpole_arc", []),
    "SARSA": ("benchmark_arc/sarsa/sarsa_arc.yaml", "sarsa_boltzmann_cartpole_arc", []),
    "SoftActorCritic": (
        "benchmark_arc/sac/sac_classic_arc.yaml",
        "sac_pendulum_arc",
        ["agent.algorithm.training_iter=1", "agent.memory.batch_size=32"],
    ),
}


@pytest.mark.parametrize("algorithm", TINY)
def test_a_tiny_run_of_each_algorithm_from_its_slm_spec(algorithm):
    file, name, changes = TINY[algorithm]
    validated = spec.load(os.path.join(SLM_SPECS, file), [*SHRINK, *changes], name)
    assert validated["agent"]["algorithm"]["name"] == algorithm
    rows = run_rows(validated)
    assert rows["frame"][-1].tolist() == [1024, 1024]
    assert np.isfinite(rows["loss"][-1]).all() and (rows["opt_step"][-1] > 0).all()


def test_slm_keys_keep_their_meaning():
    """A few keys whose meaning is SLM Lab's: agent.name is a label; a falsy end_val holds start_val; PPO's
    value loss is val_loss_coef x MSE; separate actor and critic optimisers; search_resources' two forms;
    TorchArcNet's layers; training_start_step / training_iter defaults of SoftActorCritic."""
    path = os.path.join(SLM_SPECS, "benchmark_arc", "a2c", "a2c_classic_arc.yaml")
    validated = spec.load(path, [], "a2c_gae_cartpole_arc")
    assert validated["agent"]["name"] == "A2C" and validated["agent"]["algorithm"]["name"] == "ActorCritic"
    built = build(validated)
    assert float(built.hp.entropy_coef(150_000)) == pytest.approx(0.01)  # linear_decay 0.01 -> 0.0: held
    np.testing.assert_allclose([built.hp.nets.lr["net"], built.hp.nets.lr["critic_net"]], [1e-3, 3e-3])
    assert [layer[0] for layer in built.static.policy_net.body.layers] == ["linear", "act", "linear", "act"]
    sac = spec.load(
        os.path.join(SLM_SPECS, "benchmark_arc", "sac", "sac_classic_arc.yaml"), [], "sac_cartpole_arc"
    )
    settings = build(sac).static.replay
    assert (settings.training_start_step, settings.training_iter) == (1000, 4)  # given; num_envs
    from jaxlab.spec.common import trial_resources

    ppo = spec.load(
        os.path.join(SLM_SPECS, "benchmark_arc", "ppo", "ppo_classic_arc.yaml"), [], "ppo_pendulum_arc"
    )
    assert trial_resources(ppo["meta"]) == {"cpu": 1.0, "gpu": 0.125}
    assert trial_resources(spec.validate(validated)["meta"]) == {"cpu": 1.0, "gpu": 0.0}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            ["meta.distributed=shared"],
            "meta.distributed = 'shared' is SLM Lab's Hogwild mode — jaxlab already runs",
        ),
        (["agent.memory.name=OnPolicyReplay"], "OnPolicyReplay trains on whole episodes"),
        (["agent.algorithm.name=CrossQ"], "agent.algorithm.name = CrossQ is SLM Lab's, not yet jaxlab's"),
        (["agent.net.type=RecurrentNet"], "agent.net.type = RecurrentNet is SLM Lab's, not yet jaxlab's"),
        (["agent.algorithm.name=A2C"], "SLM Lab's algorithm is called ActorCritic"),
        (
            ["agent.net.arc.modules.body.Sequential=[{LazyBatchRenorm1d: {}}]"],
            "LazyBatchRenorm1d layers are not in jaxlab yet",
        ),
        (
            ["agent.net.arc.modules.body.Sequential=[{Bilinear: {}}]"],
            "'Bilinear' is not a layer jaxlab builds",
        ),
        (["agent.net.arc.graph.output=head"], "must be the last module of the chain"),
        (
            ["agent.net.actor_optim_spec.lrr=1"],
            "unknown key agent.net.actor_optim_spec.lrr — did you mean agent.net.actor_optim_spec.lr?",
        ),
        (["agent.net.batch_norm=true"], "batch-norm layers are not in jaxlab yet"),
        (["agent.algorithm.normalize_advantages=percentile"], "is not one of standardize"),
    ],
)
def test_parts_jaxlab_lacks_are_refused_in_one_line(change, message):
    path = os.path.join(SLM_SPECS, "benchmark_arc", "ppo", "ppo_classic_arc.yaml")
    with pytest.raises(spec.SpecError) as error:
        spec.load(path, change, "ppo_cartpole_arc")
    assert message in str(error.value) and "\n" not in str(error.value)
