"""What the recorder writes from the engine's rows: the final and ckpt-best `.pt` files hold the engine's own
final and best params, session by session, for each set of networks an algorithm has (ActorCritic's is PPO's,
VanillaDQN's Reinforce's, DoubleDQN's DQN's, SARSA's Reinforce's)."""

import jax
import numpy as np
import pytest
import torch

from jaxlab import experiment, spec
from jaxlab.build import build
from jaxlab.export import flax_to_state_dict
from tests.helpers import only_folder, run_program
from tests.specs import every_algorithm

NET_SETS = ("PPO", "Reinforce", "DQN", "SoftActorCritic", "Random")


@pytest.mark.parametrize("name, raw", [(n, r) for n, r in every_algorithm().items() if n in NET_SETS])
def test_final_and_best_pt_files_are_the_engines_params(tmp_path, name, raw):
    raw["meta"]["rigorous_eval"] = 0  # the program is the same either way; this keeps it quick
    _, state = run_program(raw)  # the same spec and seed: the same numbers as the run
    experiment.run(spec.validate(raw), data_dir=str(tmp_path), progress=False)
    folder, prefix = only_folder(tmp_path), raw["name"]
    built = build(spec.validate(raw))
    for s in range(raw["meta"]["max_session"]):
        for best, params in ((False, state.train.params), (True, state.best.params)):
            session = jax.tree.map(lambda x: np.asarray(x[s]), params)  # noqa: B023
            for net, variables in built.algo.nets(session).items():
                tag = "ckpt-best_" if best else ""
                saved = torch.load(f"{folder}/model/{prefix}_t0_s{s}_{tag}{net}_model.pt", weights_only=True)
                expected = flax_to_state_dict(variables)
                assert saved.keys() == expected.keys()
                for key, value in expected.items():
                    np.testing.assert_array_equal(saved[key].numpy(), value, err_msg=f"s{s} {tag}{net} {key}")
