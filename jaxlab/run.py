"""Command line: `python -m jaxlab.run SPEC [MODE] [-s dotted.key=value ...]`.

Modes: `train` (default: all sessions, the full budget), `dev` (one session, a short run, every
checkpoint logged) and `enjoy@data/<run>/<name>_t<T>_spec.json` (replay the best session's
ckpt-best policy; `--episodes N`, `--render` for a GIF). Bad input ends with one line on stderr and
exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxlab.spec import SpecError

MODES = ("train", "dev", "enjoy@<trial spec>")
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise SpecError(f"{message} — usage: python -m jaxlab.run SPEC [train|dev|enjoy@TRIAL_SPEC] [-s key=value ...]")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="python -m jaxlab.run", description="Train the sessions of a jaxlab spec.")
    parser.add_argument("spec", help="YAML spec file, e.g. configs/ppo_cartpole.yaml")
    parser.add_argument("mode", nargs="?", default="train", help="train (default), dev, or enjoy@<trial spec>")
    parser.add_argument(
        "-s", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help='override a spec value, parsed as YAML: -s meta.max_session=8 -s "agent.net.hid_layers=[64,64]"',
    )
    parser.add_argument("--data-dir", default="data", help="where run folders go (default: data)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    parser.add_argument("--episodes", type=int, default=10, help="enjoy: episodes to play (default 10)")
    parser.add_argument("--render", action="store_true", help="enjoy: write a GIF of the first episode")
    args = parser.parse_args(argv)
    if args.mode not in ("train", "dev") and not args.mode.startswith("enjoy@"):
        raise SpecError(f"unknown mode {args.mode!r} — use one of: {', '.join(MODES)}")
    if args.episodes < 1:
        raise SpecError(f"--episodes {args.episodes} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        from jaxlab import spec as spec_module

        spec = spec_module.load(args.spec, args.overrides)
    except SpecError as error:
        print(f"jaxlab: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.mode.startswith("enjoy@"):
        return enjoy(spec, args.mode.removeprefix("enjoy@"), args.episodes, args.render)
    from jaxlab import experiment

    experiment.run(spec, args.mode, args.data_dir, progress=not args.no_progress)
    return 0


def enjoy(spec: dict, trial_spec_path: str, episodes: int, render: bool) -> int:
    from jaxlab import enjoy as enjoy_mode

    try:
        result = enjoy_mode.enjoy(spec, trial_spec_path, episodes, render)
    except SpecError as error:
        print(f"jaxlab: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"session {result.session} ({result.checkpoint}): return {result.returns.mean():.2f} ± "
          f"{result.returns.std():.2f} over {len(result.returns)} episodes")
    if result.gif:
        print(f"GIF of episode 0: {result.gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
