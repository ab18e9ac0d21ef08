"""Command line: `python -m jaxlab.run SPEC [MODE] [-s dotted.key=value ...]`.

Modes: `train` (default: all sessions, the full budget) and `dev` (one session, a short run,
every checkpoint logged). Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from jaxlab.spec import SpecError

MODES = ("train", "dev")
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise SpecError(f"{message} — usage: python -m jaxlab.run SPEC [train|dev] [-s key=value ...]")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="python -m jaxlab.run", description="Train the sessions of a jaxlab spec.")
    parser.add_argument("spec", help="YAML spec file, e.g. configs/ppo_cartpole.yaml")
    parser.add_argument("mode", nargs="?", default="train", help="train (default) or dev")
    parser.add_argument(
        "-s", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help='override a spec value, parsed as YAML: -s meta.max_session=8 -s "agent.net.hid_layers=[64,64]"',
    )
    parser.add_argument("--data-dir", default="data", help="where run folders go (default: data)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    args = parser.parse_args(argv)
    if args.mode not in MODES:
        raise SpecError(f"unknown mode {args.mode!r} — use one of: {', '.join(MODES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        from jaxlab import spec as spec_module

        spec = spec_module.load(args.spec, args.overrides)
    except SpecError as error:
        print(f"jaxlab: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from jaxlab import experiment

    experiment.run(spec, args.mode, args.data_dir, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
