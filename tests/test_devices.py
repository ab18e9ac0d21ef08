"""Several devices: the same trial on 1 and on 2 forced CPU devices, each in its own process (XLA reads
--xla_force_host_platform_device_count once, when its CPU backend starts). The sessions axis is sharded
over the devices, so the 2-device run must train the same numbers as the 1-device one, bit for bit: the
sessions share no data (the one collective, eval's "is any session still playing", changes no values).
A timeout per process turns a hang (a deadlocked XLA:CPU thread pool sits at 0% CPU forever) into a
failure."""

import glob
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxlab import spec
from jaxlab.build import build

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SESSIONS = 4  # 2 per device on 2 devices
OVERRIDES = [
    f"meta.max_session={SESSIONS}",
    "env.max_frame=4096",  # 16 PPO updates of 256 frames
    "meta.log_frequency=512",
    "meta.eval_frequency=1024",
    "meta.rigorous_eval=2",
]
TIMEOUT_S = 240
UNTIMED = ["wall_t", "fps"]  # the only columns that may differ between two runs

# The child trains through the CLI, then says how many devices it saw and over how many the engine
# places the sessions (engine.init_sessions puts the state on session_sharding).
CHILD = """
import sys
from jaxlab.run import main
code = main(sys.argv[2:])
import jax
from jaxlab.devices import session_sharding
print("DEVICES", jax.device_count(), "SHARDED_OVER", session_sharding(int(sys.argv[1])).mesh.devices.size)
sys.exit(code)
"""


def train(devices: int, data_dir: str) -> tuple[int, int]:
    """Train configs/ppo_cartpole.yaml, shortened, on `devices` CPU devices; (device count, devices sharded
    over)."""
    # JAX_PLATFORMS: on a machine with a GPU, JAX would otherwise train there and ignore the forced CPU
    # devices.
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    env.setdefault("JAXLAB_CACHE_DIR", os.path.join(ROOT, ".jax_cache"))  # as conftest.py
    argv = [
        "configs/ppo_cartpole.yaml",
        *[a for o in OVERRIDES for a in ("-s", o)],
        "--no-progress",
        "--data-dir",
        data_dir,
    ]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(SESSIONS), *argv],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    words = proc.stdout.split()
    at = words.index("DEVICES")
    return int(words[at + 1]), int(words[at + 3])


def session_dfs(data_dir: str) -> dict[str, pd.DataFrame]:
    """Every session df (train and eval) of the one run under `data_dir`, by file name."""
    paths = sorted(glob.glob(os.path.join(data_dir, "*", "info", "*_session_df_*.csv")))
    return {os.path.basename(p): pd.read_csv(p).drop(columns=UNTIMED) for p in paths}


def test_two_devices_train_the_same_sessions_as_one(tmp_path):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    assert train(1, one) == (1, 1)
    assert train(2, two) == (2, 2)  # the sessions really are split over both devices

    single, sharded = session_dfs(one), session_dfs(two)
    assert len(single) == 2 * SESSIONS and single.keys() == sharded.keys()
    for name, df in single.items():
        other = sharded[name]
        assert list(df.columns) == list(other.columns) and len(df) == len(other) > 0, name
        for column in df.columns:
            np.testing.assert_array_equal(
                other[column].to_numpy(float), df[column].to_numpy(float), f"{name} {column}"
            )


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))), ids=os.path.basename
)
def test_no_lapack_call_in_vmapped_algorithm_code(path):
    """No LAPACK custom call (jnp.linalg.qr/eigh/svd/solve..., flax's default orthogonal init) in what the
    engine vmaps over sessions. jaxlib 0.10.2's CPU LAPACK kernels split a batch into tasks on XLA:CPU's
    intra-op pool and block until they finish; when the pool's threads all run such kernels at once
    (independent layers' QRs side by side), no thread is left for the tasks and the run hangs at 0% CPU,
    on one device or several. Lowering only traces, so this costs about a second per config."""
    validated = spec.load(path, ["meta.max_session=2"])
    built = build(validated)
    algo, static = built.algo, built.static
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    hps = jax.tree.map(lambda x: jnp.broadcast_to(x, (2, *jnp.shape(x))), built.hp)
    init = jax.vmap(lambda key, hp: algo.init(static, key, hp))
    state = jax.eval_shape(init, keys, hps)
    obs = jax.eval_shape(jax.vmap(static.env.reset), keys)[0]
    programs = {
        "init": jax.jit(init).lower(keys, hps),
        "update": jax.jit(jax.vmap(lambda s: algo.update(static, s))).lower(state),
        "act": jax.jit(jax.vmap(lambda hp, p, o, k: algo.act(static, hp, p, o, k, False))).lower(
            state.hp, state.params, obs, keys
        ),
    }
    for name, lowered in programs.items():
        assert "@lapack_" not in lowered.as_text(), f"{name} of {os.path.basename(path)} calls LAPACK"
