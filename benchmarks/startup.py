"""Where a user waits: the demo command's whole wall time against its training time, with an empty compile
cache and then a warm one, in one invocation.

    python benchmarks/startup.py [CONFIG] [--mode train|dev] [--runs 1]

Each run is the command a user types (`python -m jaxlab.run CONFIG MODE`) in a fresh process, timed from
outside. The breakdown: imports (a process that only imports the CLI's modules, timed apart), compile and
training (from the run's own log lines), and the rest (set-up and the end of the run: trial specs, random
baseline, metrics, graphs, zip, interpreter exit). The ratio is whole / training.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "configs", "ppo_cartpole.yaml")
IMPORTS = "import jaxlab.run, jaxlab.experiment"


def timed(argv: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return seconds, proc.stderr + proc.stdout


def seconds_in(log: str, pattern: str) -> float:
    return sum(float(x) for x in re.findall(pattern, log))


def run_once(config: str, mode: str, cache_dir: str, data_dir: str) -> dict:
    env = {**os.environ, "JAXLAB_CACHE_DIR": cache_dir}
    imports, _ = timed([sys.executable, "-c", IMPORTS], env)
    whole, log = timed(
        [sys.executable, "-m", "jaxlab.run", config, mode, "--no-progress", "--data-dir", data_dir], env
    )
    compile_s = seconds_in(log, r"compiled in ([\d.]+) s")
    train_s = seconds_in(log, r"frames in ([\d.]+) s \(")
    rest = whole - imports - compile_s - train_s
    return {"whole": whole, "imports": imports, "compile": compile_s, "train": train_s, "rest": rest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=DEMO)
    parser.add_argument("--mode", default="train")
    parser.add_argument("--runs", type=int, default=1, help="warm runs after the cold one")
    args = parser.parse_args()
    cache_dir, data_dir = tempfile.mkdtemp(prefix="jaxlab_cache_"), tempfile.mkdtemp(prefix="jaxlab_data_")
    rows = [("cold (empty compile cache)", run_once(args.config, args.mode, cache_dir, data_dir))]
    rows += [
        (f"warm {i + 1}", run_once(args.config, args.mode, cache_dir, data_dir)) for i in range(args.runs)
    ]
    print(f"\n{os.path.basename(args.config)} {args.mode}")
    header = ("whole s", "imports", "compile", "train", "rest")
    print(f"{'run':28s} " + " ".join(f"{h:>8s}" for h in header) + f" {'ratio':>6s}")
    for name, r in rows:
        print(
            f"{name:28s} {r['whole']:8.2f} {r['imports']:8.2f} {r['compile']:8.2f} {r['train']:8.2f}"
            f" {r['rest']:8.2f} {r['whole'] / max(r['train'], 1e-9):6.2f}x"
        )


if __name__ == "__main__":
    main()
