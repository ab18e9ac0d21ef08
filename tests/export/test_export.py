"""The torch export: every network type matches its Flax twin, and load_policy fails in one clear line."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
import torch

from jaxlab.algos import dqn, networks
from jaxlab.algos.policy_nets import ON_POLICY_NET_SCHEMA
from jaxlab.export import ExportError, Policy, build_network, flax_to_state_dict, load_policy
from jaxlab.schema import validate_section

DISCRETE = {"type": "discrete", "n": 3}
CONTINUOUS = {"type": "continuous", "shape": [2], "low": [-0.05, -1.0], "high": [0.05, 1.0]}
IMAGE = (10, 10, 4)


def net_spec(**overrides) -> dict:
    """A validated agent.net section."""
    spec = {
        "type": "MLPNet",
        "shared": False,
        "hid_layers": [16, 8],
        "hid_layers_activation": "tanh",
        "conv_hid_layers": [[8, 3, 1], [4, 3, 2]],
        "fc_hid_layers": [16],
        "init_fn": "orthogonal_",
        "log_std_init": -0.5,
    }
    return validate_section({**spec, **overrides}, ON_POLICY_NET_SCHEMA, "agent.net")


def to_env(action, space=None):
    """A policy's action in [-1, 1] as the env receives it."""
    space = space or CONTINUOUS
    low, high = np.asarray(space["low"]), np.asarray(space["high"])
    return np.clip(low + (action + 1) * (high - low) / 2, low, high)


def flax_net(spec: dict, obs_shape: tuple, action_space: dict, role: str):
    """The Flax module ppo.configure would build for `role`."""
    body = networks.make_body(spec, obs_shape)
    if role == "critic_net":
        return networks.ValueNet(body)
    discrete = action_space["type"] == "discrete"
    heads = {
        "num_actions": action_space["n"] if discrete else None,
        "action_dim": None if discrete else action_space["shape"][0],
    }
    if spec["shared"]:
        return networks.ActorCriticNet(body, **heads)
    return networks.PolicyNet(body, **heads, log_std_init=spec["log_std_init"])


def init_pair(spec: dict, obs_shape: tuple, action_space: dict, role: str, seed: int = 0):
    """(flax module, its variables, the torch module loaded from them, observations [5, *obs_shape])."""
    module = flax_net(spec, obs_shape, action_space, role)
    obs = np.random.default_rng(seed).normal(size=(5, *obs_shape)).astype(np.float32)
    # Flax's own variable tree (eval_shape skips the slow orthogonal init), every leaf drawn at random: the
    # real init's 0.01-gain policy head and zero biases would make parity nearly trivial.
    variables = jax.eval_shape(module.init, jax.random.PRNGKey(seed), obs[0])
    rng = np.random.default_rng(seed + 100)
    variables = jax.tree.map(lambda x: (0.5 * rng.normal(size=x.shape)).astype(np.float32), variables)
    torch_net = build_network(networks.describe(module), obs_shape)
    torch_net.load_state_dict(
        {k: torch.from_numpy(v) for k, v in flax_to_state_dict(variables).items()}, strict=True
    )
    return module, variables, torch_net, obs


def flat(out) -> list[np.ndarray]:
    """Policy/value outputs (arrays or nested tuples of them) as a flat list of numpy arrays."""
    if isinstance(out, (tuple, list)):
        return [a for part in out for a in flat(part)]
    return [np.asarray(out.detach().numpy() if isinstance(out, torch.Tensor) else out)]


CASES = {
    "discrete_mlp_policy": (net_spec(), (4,), DISCRETE, "net"),
    "continuous_mlp_policy": (net_spec(hid_layers_activation="elu"), (3,), CONTINUOUS, "net"),
    "value_net": (net_spec(hid_layers_activation="selu"), (4,), DISCRETE, "critic_net"),
    "shared_discrete": (net_spec(shared=True, hid_layers_activation="relu"), (4,), DISCRETE, "net"),
    "shared_continuous": (net_spec(shared=True, hid_layers_activation="silu"), (3,), CONTINUOUS, "net"),
    "conv_policy": (
        net_spec(type="ConvNet", hid_layers_activation="leaky_relu"),
        IMAGE,
        DISCRETE,
        "net",
    ),
    "mlp_on_images": (net_spec(hid_layers_activation="sigmoid"), IMAGE, DISCRETE, "net"),
    "continuous_state_log_std": (net_spec(log_std_init=None), (3,), CONTINUOUS, "net"),
    "arc_layernorm": (
        net_spec(
            type="TorchArcNet",
            arc={
                "modules": {
                    "body": {
                        "Sequential": [
                            {"LazyLinear": {"out_features": 8}},
                            {"LayerNorm": None},
                            {"SiLU": None},
                        ]
                    },
                    "head": {"Linear": {"in_features": 8, "out_features": 6}},
                },
                "graph": {"input": "x", "modules": {"body": ["x"], "head": ["body"]}, "output": "head"},
            },
        ),
        (4,),
        DISCRETE,
        "net",
    ),
    "arc_conv": (
        net_spec(
            type="TorchArcNet",
            shared=True,
            arc={
                "modules": {
                    "body": {
                        "Sequential": [
                            {"LazyConv2d": {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 1}},
                            {"ReLU": None},
                            {"Flatten": None},
                            {"LazyLinear": {"out_features": 8}},
                            {"Tanh": None},
                        ]
                    }
                },
                "graph": {"input": "x", "modules": {"body": ["x"]}, "output": "body"},
            },
        ),
        IMAGE,
        DISCRETE,
        "net",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_torch_module_matches_flax(case):
    spec, obs_shape, action_space, role = CASES[case]
    module, variables, torch_net, obs = init_pair(spec, obs_shape, action_space, role)
    expected = flat(module.apply(variables, obs))
    with torch.no_grad():
        got = flat(torch_net(torch.from_numpy(obs)))
    assert [a.shape for a in got] == [a.shape for a in expected]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=1e-6)  # outputs reach ~100: float32 precision


@pytest.mark.parametrize("obs_shape", [(4,), IMAGE])
def test_obs_norm_matches_numpy_normalisation_fed_to_flax(obs_shape):
    spec = net_spec(type="ConvNet", shared=True) if len(obs_shape) == 3 else net_spec(shared=True)
    module, variables, _, obs = init_pair(spec, obs_shape, DISCRETE, "net")
    rng = np.random.default_rng(7)
    mean = rng.normal(size=obs_shape).astype(np.float32)
    var = rng.uniform(1e-4, 2.0, size=obs_shape).astype(
        np.float32
    )  # small variances push some obs past the clip
    state = {k: torch.from_numpy(v) for k, v in flax_to_state_dict(variables).items()}
    state |= {"obs_norm.mean": torch.from_numpy(mean), "obs_norm.var": torch.from_numpy(var)}
    torch_net = build_network(networks.describe(module), obs_shape, normalize_obs=True, clip_obs=10.0)
    torch_net.load_state_dict(state, strict=True)
    normalised = np.clip((obs - mean) / np.sqrt(var + 1e-8), -10, 10)
    assert np.abs(normalised).max() == 10  # the clip is exercised
    with torch.no_grad():
        got = flat(torch_net(torch.from_numpy(obs)))
    for g, e in zip(got, flat(module.apply(variables, normalised)), strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=0)


def test_policy_forward_returns_argmax_or_clipped_mean():
    module, variables, torch_net, obs = init_pair(net_spec(), (4,), DISCRETE, "net")
    actions = Policy(torch_net, DISCRETE)(torch.from_numpy(obs))
    assert actions.dtype == torch.int64 and actions.shape == (5,)
    np.testing.assert_array_equal(actions.numpy(), np.argmax(module.apply(variables, obs), -1))

    module, variables, torch_net, obs = init_pair(net_spec(shared=True), (3,), CONTINUOUS, "net", seed=1)
    actions = Policy(torch_net, CONTINUOUS)(torch.from_numpy(obs)).detach()
    assert actions.dtype == torch.float32 and actions.shape == (5, 2)
    (mean, _), _ = module.apply(variables, obs)
    assert (np.abs(mean) > 1).any()  # the bound clips something
    np.testing.assert_allclose(actions.numpy(), to_env(mean), atol=1e-5, rtol=0)


def test_numpy_observation_gives_numpy_action_without_batch_dim():
    module, variables, torch_net, obs = init_pair(net_spec(), (4,), DISCRETE, "net")
    policy = Policy(torch_net, DISCRETE)
    expected = np.argmax(module.apply(variables, obs), -1)
    for i in range(len(obs)):  # one gymnasium-style observation [4] at a time
        action = policy(obs[i])
        assert isinstance(action, np.ndarray) and action.dtype == np.int64 and action.shape == ()
        assert action == expected[i]
    logits, batch_actions = policy.output(obs[0]), policy(obs)
    assert isinstance(logits, np.ndarray) and logits.shape == (3,)
    assert isinstance(batch_actions, np.ndarray) and batch_actions.dtype == np.int64
    np.testing.assert_array_equal(batch_actions, expected)

    module, variables, torch_net, obs = init_pair(net_spec(), (3,), CONTINUOUS, "net", seed=1)
    policy = Policy(torch_net, CONTINUOUS)
    mean, log_std = module.apply(variables, obs)
    action = policy(obs[0].astype(np.float64))  # float64, as np.random and many envs give
    assert isinstance(action, np.ndarray) and action.dtype == np.float32 and action.shape == (2,)
    np.testing.assert_allclose(action, to_env(mean[0]), atol=1e-5)
    got_mean, got_log_std = policy.output(obs[0])
    assert isinstance(got_mean, np.ndarray) and got_mean.shape == got_log_std.shape == (2,)
    np.testing.assert_allclose(got_mean, mean[0], atol=1e-5)
    np.testing.assert_allclose(got_log_std, log_std[0], atol=1e-6)


def test_torch_batch_in_torch_batch_out_without_grad():
    _, _, torch_net, obs = init_pair(net_spec(), (4,), DISCRETE, "net")
    actions = Policy(torch_net, DISCRETE)(torch.from_numpy(obs))
    assert isinstance(actions, torch.Tensor) and actions.dtype == torch.int64 and actions.shape == (5,)

    _, _, torch_net, obs = init_pair(net_spec(shared=True), (3,), CONTINUOUS, "net", seed=1)
    policy = Policy(torch_net, CONTINUOUS)
    actions = policy(torch.from_numpy(obs))
    assert isinstance(actions, torch.Tensor) and actions.dtype == torch.float32 and actions.shape == (5, 2)
    assert not actions.requires_grad
    assert actions.numpy().shape == (5, 2)  # what failed before: a tensor that requires grad
    single = policy(torch.from_numpy(obs[0]))
    assert isinstance(single, torch.Tensor) and single.shape == (2,) and not single.requires_grad
    mean, log_std = policy.output(torch.from_numpy(obs))
    value = policy.value(torch.from_numpy(obs))
    assert mean.shape == log_std.shape == (5, 2) and value.shape == (5,)
    assert not (mean.requires_grad or log_std.requires_grad or value.requires_grad)
    _, _, separate, _ = init_pair(net_spec(), (3,), CONTINUOUS, "net", seed=1)
    _, log_std = Policy(separate, CONTINUOUS).output(torch.from_numpy(obs))
    log_std[0, 0] = 99.0  # a copy: writing to it leaves the network's log_std parameter alone
    assert separate.log_std.max() < 99


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.float64, torch.uint8, torch.float64], ids=str)
def test_integer_and_double_observations_are_cast_to_float32(dtype):
    _, _, torch_net, _ = init_pair(net_spec(type="ConvNet"), IMAGE, DISCRETE, "net")
    policy = Policy(torch_net, DISCRETE)
    image = np.random.default_rng(0).integers(0, 3, size=(2, *IMAGE))
    expected = policy(image.astype(np.float32))
    if isinstance(dtype, torch.dtype):
        got = policy(torch.from_numpy(image).to(dtype))
        assert isinstance(got, torch.Tensor)
        got = got.numpy()
    else:
        got = policy(image.astype(dtype))
    np.testing.assert_array_equal(got, expected)
    assert policy(image[0].astype(np.uint8)).shape == ()


@pytest.mark.parametrize("net_type", ["MLPNet", "DuelingMLPNet"])
def test_q_network_output_is_q_values_and_value_is_their_max(net_type):
    q_net = networks.DuelingQNet if net_type.startswith("Dueling") else networks.QNet
    body = validate_section({"type": net_type, "hid_layers": [16, 8]}, dqn.NET_SCHEMA, "agent.net")
    torch_net = build_network(networks.describe(q_net(networks.make_body(body, (4,)), 3)), (4,))
    policy = Policy(torch_net, DISCRETE)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        q_values = torch_net(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(policy.output(obs), q_values, atol=1e-6, rtol=0)
    np.testing.assert_allclose(policy.value(obs), q_values.max(-1), atol=1e-6, rtol=0)
    np.testing.assert_array_equal(policy(obs), q_values.argmax(-1))
    assert policy.value(obs[0]).shape == () and policy.output(obs[0]).shape == (3,)
    np.testing.assert_allclose(policy.value(torch.from_numpy(obs)).numpy(), q_values.max(-1), atol=1e-6)


def test_sac_policy_squashes_its_mean_and_has_no_value():
    actor = networks.SquashedGaussianPolicyNet(
        networks.make_body(net_spec(hid_layers_activation="relu"), (3,)), 2
    )
    torch_net = build_network(networks.describe(actor), (3,))
    policy = Policy(torch_net, CONTINUOUS)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    mean, log_std = policy.output(obs)
    with torch.no_grad():
        expected_mean, expected_log_std = torch_net(torch.from_numpy(obs))
    np.testing.assert_allclose(mean, expected_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(log_std, expected_log_std.numpy(), atol=1e-6)
    low, high = np.array(CONTINUOUS["low"]), np.array(CONTINUOUS["high"])
    np.testing.assert_allclose(policy(obs), low + (np.tanh(mean) + 1) * (high - low) / 2, atol=1e-6)
    assert policy(obs[0]).dtype == np.float32 and policy(obs[0]).shape == (2,)
    with pytest.raises(ExportError, match="this policy has no V\\(s\\)") as info:
        policy.value(obs)
    assert "\n" not in str(info.value) and " — " in str(info.value)


def test_wrong_observation_shape_is_a_one_line_error():
    _, _, torch_net, obs = init_pair(net_spec(), (4,), DISCRETE, "net")
    policy = Policy(torch_net, DISCRETE)
    for bad in [obs[:, :3], obs[0, :3], obs[None], np.float32(1.0), np.array(["a", "b", "c", "d"])]:
        with pytest.raises(ExportError, match=r"one observation \[4\] or a batch \[B, 4\]") as info:
            policy(bad)
        assert "\n" not in str(info.value)


def test_export_imports_and_runs_without_jax():
    code = (
        "import sys; sys.modules['jax'] = None\n"
        "import torch, jaxlab.export as ex\n"
        "layers = [['conv', 'conv_model.0', 4, 3, 1, 0, 1], ['act', None, 'ReLU'], ['flatten', None],"
        " ['linear', 'fc_model.0', 8], ['act', None, 'ReLU']]\n"
        "body = {'module': 'Body', 'layers': layers, 'activation': 'ReLU', 'init_fn': None, 'obs_rank': 3}\n"
        "described = {'module': 'ActorCriticNet', 'body': body, 'num_actions': 3, 'action_dim': None}\n"
        "net = ex.build_network(described, (10, 10, 4), normalize_obs=True)\n"
        "actions = ex.Policy(net, {'type': 'discrete', 'n': 3})(torch.zeros(2, 10, 10, 4))\n"
        "assert actions.shape == (2,), actions.shape\n"
        "import numpy as np\n"
        "action = ex.Policy(net, {'type': 'discrete', 'n': 3})(np.zeros((10, 10, 4), np.uint8))\n"
        "assert isinstance(action, np.ndarray) and action.shape == () and action.dtype == np.int64\n"
        "assert not any(sys.modules.get(m) for m in sys.modules if m.split('.')[0] in ('jax', 'flax'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def write_run(tmp_path, spec: dict, obs_shape: tuple, action_space: dict, normalize_obs: bool = False):
    """A fake run folder: `demo_t0_spec.json` and model/demo_t0_s0_{net,critic_net}_model.pt; returns
    (run dir, {role: (flax module, variables)})."""
    run = tmp_path / "demo_2024_01_01_000000"
    (run / "model").mkdir(parents=True)
    flax = {}
    for role in ["net"] if spec["shared"] else ["net", "critic_net"]:
        module, variables, _, _ = init_pair(spec, obs_shape, action_space, role, seed=3)
        state = {k: torch.from_numpy(v) for k, v in flax_to_state_dict(variables).items()}
        torch.save(state, run / "model" / f"demo_t0_s0_{role}_model.pt")
        flax[role] = module, variables
    trial_spec = {
        "name": "demo",
        "agent": {"algorithm": {"name": "PPO"}, "net": spec},
        "env": {"name": "CartPole-v1", "normalize_obs": normalize_obs},
        "meta": {
            "observation_shape": list(obs_shape),
            "action_space": action_space,
            "networks": {role: networks.describe(module) for role, (module, _) in flax.items()},
        },
    }
    (run / "demo_t0_spec.json").write_text(json.dumps(trial_spec))
    return run, flax


def test_load_policy_matches_flax_with_its_critic(tmp_path):
    run, flax = write_run(tmp_path, net_spec(), (4,), DISCRETE)
    policy = load_policy(str(run / "model" / "demo_t0_s0_net_model.pt"), with_critic=True)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    logits, value = policy.output(torch.from_numpy(obs)), policy.value(torch.from_numpy(obs))
    np.testing.assert_allclose(logits.numpy(), flax["net"][0].apply(flax["net"][1], obs), atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        value.numpy(), flax["critic_net"][0].apply(flax["critic_net"][1], obs), atol=1e-5
    )
    with pytest.raises(ExportError, match="with_critic=True"):
        load_policy(str(run / "model" / "demo_t0_s0_net_model.pt")).value(torch.from_numpy(obs))


def test_load_policy_shared_continuous_ckpt_best(tmp_path):
    run, flax = write_run(tmp_path, net_spec(shared=True), (3,), CONTINUOUS)
    best = run / "model" / "demo_t0_s0_ckpt-best_net_model.pt"
    (run / "model" / "demo_t0_s0_net_model.pt").rename(best)
    policy = load_policy(str(best), with_critic=True)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    module, variables = flax["net"]
    (mean, log_std), value = module.apply(variables, obs)
    got_mean, got_log_std = policy.output(torch.from_numpy(obs))
    got_value = policy.value(torch.from_numpy(obs))
    assert got_log_std.shape == got_mean.shape == (5, 2)  # the [D] log_std parameter, broadcast to [B, D]
    for g, e in [(got_mean, mean), (got_log_std, np.broadcast_to(log_std, (5, 2))), (got_value, value)]:
        np.testing.assert_allclose(g.numpy(), e, atol=1e-5, rtol=0)


def test_load_policy_applies_obs_norm_from_the_file(tmp_path):
    run, flax = write_run(tmp_path, net_spec(shared=True), (4,), DISCRETE, normalize_obs=True)
    path = run / "model" / "demo_t0_s0_net_model.pt"
    with pytest.raises(ExportError, match=r"missing keys.*obs_norm"):
        load_policy(str(path))
    mean, var = np.arange(4, dtype=np.float32), np.full(4, 4.0, np.float32)
    state = torch.load(path, weights_only=True) | {
        "obs_norm.mean": torch.tensor(mean),
        "obs_norm.var": torch.tensor(var),
    }
    torch.save(state, path)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        value = load_policy(str(path)).value(torch.from_numpy(obs))
    normalised = np.clip((obs - mean) / np.sqrt(var + 1e-8), -10, 10)
    np.testing.assert_allclose(value.numpy(), flax["net"][0].apply(flax["net"][1], normalised)[1], atol=1e-5)


def break_missing(run):
    return run / "model" / "demo_t0_s9_net_model.pt"


def break_directory(run):
    return run / "model"


def break_name(run):
    return (run / "model" / "demo_t0_s0_net_model.pt").rename(run / "model" / "policy.pt")


def break_critic_name(run):
    return run / "model" / "demo_t0_s0_critic_net_model.pt"


def break_spec(run):
    (run / "demo_t0_spec.json").unlink()
    return run / "model" / "demo_t0_s0_net_model.pt"


def break_spec_json(run):
    (run / "demo_t0_spec.json").write_text("{not json")
    return run / "model" / "demo_t0_s0_net_model.pt"


def break_pt(run):
    path = run / "model" / "demo_t0_s0_net_model.pt"
    path.write_bytes(b"\x00garbage\nnot a checkpoint" * 10)
    return path


def break_architecture(run):
    spec_path = run / "demo_t0_spec.json"
    spec = json.loads(spec_path.read_text())
    spec["meta"]["networks"]["net"]["body"]["layers"][0][2] = 32  # the first Linear 32 wide, not 16
    spec_path.write_text(json.dumps(spec))
    return run / "model" / "demo_t0_s0_net_model.pt"


def break_critic_file(run):
    (run / "model" / "demo_t0_s0_critic_net_model.pt").unlink()
    return run / "model" / "demo_t0_s0_net_model.pt"


BREAKS = {
    break_missing: "does not exist",
    break_directory: "is not a file",
    break_name: "is not a jaxlab policy file name",
    break_critic_name: "is not a jaxlab policy file name",
    break_spec: "not inside a jaxlab run folder",
    break_spec_json: "is not a readable jaxlab trial spec",
    break_pt: "is not a readable PyTorch checkpoint",
    break_architecture: r"does not match the network in .*demo_t0_spec.json \(a folder from another spec\?\)",
    break_critic_file: "critic_net_model.pt not found",
}


@pytest.mark.parametrize("breaker", BREAKS, ids=lambda f: f.__name__)
def test_load_policy_errors_are_one_line(tmp_path, breaker):
    run, _ = write_run(tmp_path, net_spec(), (4,), DISCRETE)
    path = breaker(run)
    with pytest.raises(ExportError, match=BREAKS[breaker]) as info:
        load_policy(str(path), with_critic=True)
    message = str(info.value)
    assert "\n" not in message and " — " in message, message  # one line: the problem, then the fix
    error = info.value  # no chained traceback from the underlying exception
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_state_dict_keys_are_slm_labs():
    """The keys and shapes SLM Lab's own nets give for its specs (read off its TorchArcNet, MLPNet and
    ConvNet): ppo_cartpole_arc's actor and critic, a shared conv arc like ppo_atari_arc's, an MLPNet policy
    with a state-independent log_std, and a dueling Q net."""
    arc = {
        "modules": {
            "body": {
                "Sequential": [
                    {"LazyLinear": {"out_features": 64}},
                    {"Tanh": None},
                    {"LazyLinear": {"out_features": 64}},
                    {"Tanh": None},
                ]
            }
        },
        "graph": {"input": "x", "modules": {"body": ["x"]}, "output": "body"},
    }
    cartpole = net_spec(type="TorchArcNet", arc=arc)
    shapes = lambda spec, obs, space, role: {  # noqa: E731
        k: list(v.shape) for k, v in init_pair(spec, obs, space, role)[2].state_dict().items()
    }
    assert shapes(cartpole, (4,), {"type": "discrete", "n": 2}, "net") == {
        "body.body.0.weight": [64, 4],
        "body.body.0.bias": [64],
        "body.body.2.weight": [64, 64],
        "body.body.2.bias": [64],
        "tails.0.weight": [2, 64],
        "tails.0.bias": [2],
    }
    assert shapes(cartpole, (4,), DISCRETE, "critic_net")["tails.0.weight"] == [1, 64]
    conv = net_spec(
        type="TorchArcNet",
        shared=True,
        arc={
            "modules": {
                "body": {
                    "Sequential": [
                        {"LazyConv2d": {"out_channels": 32, "kernel_size": 3, "stride": 1}},
                        {"ReLU": None},
                        {"Flatten": None},
                        {"LazyLinear": {"out_features": 512}},
                        {"ReLU": None},
                    ]
                }
            },
            "graph": {"input": "x", "modules": {"body": ["x"]}, "output": "body"},
        },
    )
    got = shapes(conv, IMAGE, {"type": "discrete", "n": 6}, "net")
    assert got["body.body.0.weight"] == [32, 4, 3, 3] and got["body.body.3.weight"] == [512, 32 * 8 * 8]
    assert got["tails.0.0.weight"] == [6, 512] and got["tails.1.0.weight"] == [1, 512]
    mlp = shapes(net_spec(hid_layers=[64, 64], log_std_init=0.0), (3,), CONTINUOUS, "net")
    assert set(mlp) == {
        "model.0.weight",
        "model.0.bias",
        "model.2.weight",
        "model.2.bias",
        "tails.0.weight",
        "tails.0.bias",
        "log_std",
    }
    body = validate_section({"type": "DuelingMLPNet", "hid_layers": [16]}, dqn.NET_SCHEMA, "agent.net")
    dueling = build_network(networks.describe(networks.DuelingQNet(networks.make_body(body, (4,)), 3)), (4,))
    assert set(dueling.state_dict()) == {
        "model_body.0.weight",
        "model_body.0.bias",
        "v.weight",
        "v.bias",
        "adv.weight",
        "adv.bias",
    }
