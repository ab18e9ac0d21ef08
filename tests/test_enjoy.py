"""Enjoy mode: the best session's ckpt-best policy replayed through the exported torch policy, on the real
gymnasium env (where JAX need not be importable) or in the JAX env (MinAtar)."""

import json
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import torch
import yaml

from jaxlab import run
from jaxlab.build import build
from jaxlab.spec import load
from tests.specs import tiny_spec


def test_enjoy_plays_the_best_session_and_writes_a_gif(run_folder, capsys):
    spec_path = run_folder / "tiny_t0_spec.json"
    assert run.main([str(spec_path), f"enjoy@{spec_path}", "--episodes", "2", "--render"]) == 0
    out = capsys.readouterr().out
    assert "over 2 episodes" in out and "GIF of episode 0" in out
    (gif,) = run_folder.glob("tiny_t0_s*_enjoy.gif")
    from PIL import Image

    assert Image.open(gif).n_frames > 1


def test_enjoy_bad_input_exits_2(run_folder, tmp_path, capsys):
    spec_path = run_folder / "tiny_t0_spec.json"
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**tiny_spec(), "name": "other"}))
    assert run.main([str(other), f"enjoy@{spec_path}"]) == 2
    assert "is a run of 'tiny'" in capsys.readouterr().err
    assert run.main([str(spec_path), f"enjoy@{tmp_path}/nope_t0_spec.json"]) == 2
    assert "give a trial spec of a run" in capsys.readouterr().err
    assert run.main([str(spec_path), f"enjoy@{spec_path}", "--episodes", "0"]) == 2


def flax_params_from(state_dict: dict) -> dict:
    """An MLP's Flax params from its exported state_dict, mapped back by hand (model.{i} -> body/model.{i},
    a Linear's weight -> the transposed kernel): an independent route from the .pt to the Flax network."""
    params: dict = {"body": {}}
    for key, tensor in state_dict.items():
        layer, leaf = key.rsplit(".", 1)
        value = tensor.numpy().T if leaf == "weight" else tensor.numpy()
        leaf = "kernel" if leaf == "weight" else leaf
        if layer.startswith("model."):
            params["body"].setdefault(layer, {})[leaf] = value
        else:
            params.setdefault(layer, {})[leaf] = value
    return {"params": params}


def test_checkpoint_plays_gymnasium_where_jax_cannot_be_imported(run_folder):
    """In a process where JAX cannot be imported, the exported policy plays gymnasium's CartPole; the actions
    it took are those of the Flax policy (jaxlab's own act, on params rebuilt from the .pt) on the same
    observations."""
    pt = run_folder / "model" / "tiny_t0_s0_ckpt-best_net_model.pt"
    child = (
        "import sys, json, numpy as np; sys.modules['jax'] = None\n"
        "from jaxlab.export import load_policy\n"
        "import gymnasium\n"
        f"policy = load_policy({str(pt)!r})\n"
        "env = gymnasium.make('CartPole-v1'); obs, _ = env.reset(seed=3); seen, actions, done = [], [],"
        " False\n"
        "while not done:\n"
        "    action = int(policy(obs)); seen.append(obs.tolist()); actions.append(action)\n"
        "    obs, _, terminated, truncated, _ = env.step(action); done = terminated or truncated\n"
        "print(json.dumps({'obs': seen, 'actions': actions}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    played = json.loads(proc.stdout)
    trial_spec = load(str(run_folder / "tiny_t0_spec.json"))
    built = build(trial_spec)
    params = {"net": flax_params_from(torch.load(pt, weights_only=True))}
    obs = jnp.asarray(played["obs"], jnp.float32)
    expected = built.algo.act(built.static, built.hp, params, obs, None, False)
    np.testing.assert_array_equal(np.asarray(expected), played["actions"])


def test_enjoy_plays_minatar_in_the_jax_env(tmp_path, capsys):
    path = tmp_path / "mini.yaml"
    raw = tiny_spec(
        env={"name": "Breakout-MinAtar", "max_frame": 256}, meta={"max_session": 1, "eval_frequency": 128}
    )
    raw["name"] = "mini"
    path.write_text(yaml.safe_dump(raw))
    assert run.main([str(path), "--data-dir", str(tmp_path / "data"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp_path / "data").iterdir() if p.is_dir()]
    spec_path = folder / "mini_t0_spec.json"
    capsys.readouterr()
    assert run.main([str(path), f"enjoy@{spec_path}", "--episodes", "2"]) == 0
    assert "over 2 episodes" in capsys.readouterr().out
    assert run.main([str(path), f"enjoy@{spec_path}", "--render"]) == 2
    assert "--render is not available for Breakout-MinAtar" in capsys.readouterr().err
