"""Command line: `python -m jaxlab.run SPEC [MODE] [-s dotted.key=value ...]`.

Modes: `train` (default: all sessions, the full budget), `dev` (one session, a short run, every
checkpoint logged), `search` (`meta.max_trial` trials drawn from the spec's search block; `--keep N`),
`train@data/<run>` (resume a run stopped by Ctrl-C or SIGTERM, exit code 128 + the signal) and `enjoy@data/<run>/<name>_t<T>_spec.json` (replay the best session's
ckpt-best policy; `--episodes N`, `--render` for a GIF). Bad input, and output that cannot be written
(a full disk), end with one line on stderr and exit code 2. Every input is checked before anything is
compiled or written.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile

from jaxlab.spec import SpecError

MODES = ("train", "dev", "search", "enjoy@<trial spec>", "train@<run folder>")
EXIT_BAD_INPUT = 2
EXIT_SIGNAL = 128  # + the signal number, as shells report a process stopped by a signal


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise SpecError(f"{message} — usage: python -m jaxlab.run SPEC [train|dev|search|enjoy@TRIAL_SPEC] [-s key=value ...]")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="python -m jaxlab.run", description="Train the sessions of a jaxlab spec.")
    parser.add_argument("spec", help="YAML spec file, e.g. configs/ppo_cartpole.yaml")
    parser.add_argument("mode", nargs="?", default="train", help="train (default), dev, search, enjoy@<trial spec>, or train@<run folder> (resume)")
    parser.add_argument(
        "-s", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help='override a spec value, parsed as YAML: -s meta.max_session=8 -s "agent.net.hid_layers=[64,64]"',
    )
    parser.add_argument("--data-dir", default="data", help="where run folders go (default: data)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    parser.add_argument("--episodes", type=int, default=10, help="enjoy: episodes to play (default 10)")
    parser.add_argument("--render", action="store_true", help="enjoy: write a GIF of the first episode")
    parser.add_argument("--keep", type=int, metavar="N", help="search: keep the model files of the N best trials only")
    args = parser.parse_args(argv)
    if args.mode not in ("train", "dev", "search") and not args.mode.startswith(("enjoy@", "train@")):
        raise SpecError(f"unknown mode {args.mode!r} — use one of: {', '.join(MODES)}")
    if args.episodes < 1:
        raise SpecError(f"--episodes {args.episodes} must be at least 1")
    if args.keep is not None and (args.mode != "search" or args.keep < 0):
        raise SpecError(f"--keep {args.keep}: keeps the model files of the N >= 0 best trials of a search — use it with search mode")
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

        if args.mode == "search":
            experiment.search(spec, args.data_dir, progress=not args.no_progress, keep=args.keep)
        elif args.mode.startswith("train@"):
            experiment.resume(spec, args.mode.removeprefix("train@"), progress=not args.no_progress)
        else:
            experiment.run(spec, args.mode, args.data_dir, progress=not args.no_progress)
    except SpecError as error:
        return fail(str(error))
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once
        print("jaxlab: stopped at once; the files written so far are intact", file=sys.stderr)
        return EXIT_SIGNAL + signal.SIGINT
    except OSError as error:
        # A full disk mid-run: files are written atomically, so those written so far are whole.
        where = f": {error.filename}" if error.filename else ""
        return fail(
            f"{error.strerror or error}{where} — free some disk space or pick another --data-dir"
            " (the files written so far are intact)"
        )
    except Exception as error:
        from jaxlab.experiment import Interrupted

        if not isinstance(error, Interrupted):
            raise
        how = (
            f"resume with: python -m jaxlab.run {args.spec} train@{error.root}" if error.resumable
            else "a search is not resumed; its finished trials are in the folder"
        )
        print(f"jaxlab: {signal.Signals(error.signum).name}: everything so far is in {error.root} — {how}", file=sys.stderr)
        return EXIT_SIGNAL + error.signum
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
