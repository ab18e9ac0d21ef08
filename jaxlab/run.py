"""Command line: `python -m jaxlab.run SPEC [MODE] [-s dotted.key=value ...]`.

Modes: `train` (default: all sessions, the full budget), `dev` (one session, a short run, every
checkpoint logged) and `enjoy@data/<run>/<name>_t<T>_spec.json` (replay the best session's
ckpt-best policy; `--episodes N`, `--render` for a GIF). Bad input, and output that cannot be written
(a full disk), end with one line on stderr and exit code 2. Every input is checked before anything is
compiled or written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

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


def check_data_dir(data_dir: str) -> None:
    """Make sure run folders can be written under `data_dir` (created if needed): write a scratch file there."""
    try:
        os.makedirs(data_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as error:
        raise SpecError(
            f"--data-dir {data_dir} is not a writable folder ({error.strerror}) — pick another with --data-dir"
        ) from None


def check_trial_spec(path: str) -> None:
    """`enjoy@path` must be a trial spec written by a run: a valid spec whose meta has the run's fields."""
    from jaxlab import spec as spec_module

    if not os.path.isfile(path):
        return  # enjoy says what it expects
    try:
        meta = spec_module.read_file(path).get("meta")
        if not isinstance(meta, dict) or not {"trial", "max_session"} <= set(meta):
            raise SpecError("it has no meta.trial and meta.max_session, so no run wrote it")
        spec_module.load(path)
    except SpecError as error:
        raise SpecError(
            f"enjoy@{path} is not the trial spec of a run ({error}) — give data/<run>/<name>_t<T>_spec.json"
        ) from None


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        from jaxlab import spec as spec_module

        spec = spec_module.load(args.spec, args.overrides)
        if args.mode.startswith("enjoy@"):
            return enjoy(spec, args.mode.removeprefix("enjoy@"), args.episodes, args.render)
        check_data_dir(args.data_dir)
        from jaxlab import experiment

        experiment.run(spec, args.mode, args.data_dir, progress=not args.no_progress)
    except SpecError as error:
        return fail(str(error))
    except OSError as error:
        # A full disk mid-run: files are written atomically, so those written so far are whole.
        where = f": {error.filename}" if error.filename else ""
        return fail(
            f"{error.strerror or error}{where} — free some disk space or pick another --data-dir"
            " (the files written so far are intact)"
        )
    return 0


def fail(message: str) -> int:
    print(f"jaxlab: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def enjoy(spec: dict, trial_spec_path: str, episodes: int, render: bool) -> int:
    from jaxlab import enjoy as enjoy_mode

    check_trial_spec(trial_spec_path)
    result = enjoy_mode.enjoy(spec, trial_spec_path, episodes, render)
    print(f"session {result.session} ({result.checkpoint}): return {result.returns.mean():.2f} ± "
          f"{result.returns.std():.2f} over {len(result.returns)} episodes")
    if result.gif:
        print(f"GIF of episode 0: {result.gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
