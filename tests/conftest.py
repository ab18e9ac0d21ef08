import os

# Tests compile many small programs and run each briefly: LLVM's optimisation level 0 compiles them about a
# third faster. Float rounding may differ from the default level's, but every test compares runs made under
# the same flags (subprocesses inherit them). Set before JAX is imported.
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()

import pytest

from jaxlab.devices import enable_compilation_cache
from tests.specs import tiny_spec

# Tests share one persistent compilation cache so repeated programs compile once per machine (the run
# drivers switch it on; tests that drive the engine directly need it too).
os.environ.setdefault("JAXLAB_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))
enable_compilation_cache()


@pytest.fixture
def tiny():
    return tiny_spec


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory):
    """One tiny 2-session PPO run with eval rows through the CLI, shared by the tests that read a folder."""
    from jaxlab import run
    from tests.helpers import write_spec

    tmp = tmp_path_factory.mktemp("run")
    path = write_spec(tmp, tiny_spec(meta={"max_session": 2, "log_frequency": 128, "eval_frequency": 512}))
    assert run.main([str(path), "--data-dir", str(tmp / "data"), "--no-progress"]) == 0
    (folder,) = [p for p in (tmp / "data").iterdir() if p.is_dir()]
    return folder
