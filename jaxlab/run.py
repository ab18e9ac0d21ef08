"""`jaxlab run SPEC_FILE [SPEC_NAME] [MODE] [-s K=V ...]`, as SLM Lab's `slm-lab run` (and `python -m
jaxlab.run`, the same).

SPEC_FILE maps spec names to specs (SLM Lab's format); SPEC_NAME picks one (a file with one spec needs none).
Modes: `train` (default: all sessions, the full budget), `dev` (one session, a short run, every checkpoint
logged), `search` (`meta.max_trial` trials drawn from the spec's search block; `--keep N`),
`train@data/<run>` (resume a run stopped by Ctrl-C or SIGTERM from the spec in its folder; SPEC_FILE is
optional) and `enjoy@data/<run>/<name>_t<T>_spec.json` (replay the best session's ckpt-best policy;
`--episodes N`, `--render` for a GIF; SPEC_FILE is optional). `-s K=V` fills a `${K}` placeholder of the
file, as SLM Lab does, or overrides the (dotted) key K. Options may come before or after the positionals. Bad
input, and output that cannot be written (a full disk), end with one line on stderr and exit code 2. Every
input is checked before anything is compiled or written.
"""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import sys
import tempfile

from jaxlab.interrupt import EXIT_SIGNAL
from jaxlab.spec import SpecError

USAGE = (
    "jaxlab run [SPEC_FILE [SPEC_NAME]] [train|dev|search|train@RUN_FOLDER|enjoy@TRIAL_SPEC]"
    " [-s KEY=VALUE ...]"
)
PLAIN_MODES = ("train", "dev", "search")
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3  # the run finished, but every session's loss or params went non-finite


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise SpecError(f"{message} — usage: {USAGE}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="jaxlab run", usage=USAGE, description="Train the sessions of a spec.")
    parser.add_argument(
        "positionals",
        nargs="*",
        metavar="SPEC_FILE SPEC_NAME MODE",
        help="a spec file (e.g. configs/ppo_cartpole.yaml), the name of one of its specs (a file with one"
        " needs none), then the mode: train (default), dev, search, train@<run folder> (resume; no spec file"
        " needed) or enjoy@<trial spec> (no spec file needed)",
    )
    parser.add_argument(
        "-s",
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fill the spec's ${KEY} placeholder (-s env=Hopper-v5), or override a dotted key, parsed as"
        ' YAML: -s meta.max_session=8 -s "agent.net.hid_layers=[64,64]"',
    )
    parser.add_argument("--data-dir", default="data", help="where run folders go (default: data)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")
    parser.add_argument("--episodes", type=int, default=10, help="enjoy: episodes to play (default 10)")
    parser.add_argument("--render", action="store_true", help="enjoy: write a GIF of the first episode")
    parser.add_argument(
        "--keep", type=int, metavar="N", help="search: keep the model files of the N best trials only"
    )
    args = parser.parse_intermixed_args(argv)
    args.spec, args.spec_name, args.mode = _positionals(args.positionals)
    if args.spec_name is not None and args.spec is not None and os.path.isfile(args.spec):
        _check_spec_name(args.spec, args.spec_name, args.overrides)
    if args.episodes < 1:
        raise SpecError(f"--episodes {args.episodes} must be at least 1")
    if args.keep is not None and (args.mode != "search" or args.keep < 0):
        raise SpecError(
            f"--keep {args.keep}: keeps the model files of the N >= 0 best trials of a search — use it"
            " with search mode"
        )
    if args.mode.startswith("enjoy@") and args.overrides:
        raise SpecError(
            f"-s {args.overrides[0]}: enjoy replays the run's trial spec as it was trained, so -s has no"
            " effect there"
            " — drop -s"
        )
    return args


def _check_spec_name(path: str, name: str, overrides: list[str]) -> None:
    """A second positional that names no spec of the file: a misspelt mode or spec name, said in one line."""
    from jaxlab.spec.files import FLAT, read_specs

    specs = read_specs(path, overrides)[0].specs
    if name in specs:
        return
    modes = "dev, train, search, enjoy@<trial spec> or train@<run>"
    if list(specs) == [FLAT]:
        raise SpecError(f"unknown mode {name!r} — use {modes} ({path} holds one spec: no SPEC_NAME needed)")
    close = difflib.get_close_matches(name, [*specs, *PLAIN_MODES], n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"its specs: {', '.join(specs)}; the modes: {modes}"
    raise SpecError(f"{path} has no spec {name!r} and it is not a mode — {hint}")


def _is_mode(word: str) -> bool:
    return word in PLAIN_MODES or word.startswith(("train@", "enjoy@"))


def _positionals(positionals: list[str]) -> tuple[str | None, str | None, str]:
    """(SPEC_FILE or None, SPEC_NAME or None, MODE) from the positionals; SPEC_FILE may be left out for
    train@ and enjoy@."""
    if not positionals:
        raise SpecError(f"give a spec file, e.g. jaxlab run configs/ppo_cartpole.yaml — usage: {USAGE}")
    *named, last = positionals
    mode = last if _is_mode(last) else "train"
    named = named if _is_mode(last) else positionals
    if mode.startswith(("train@", "enjoy@")) and not named:
        return None, None, mode
    if not named:
        raise SpecError(f"{mode} needs a spec file, e.g. jaxlab run configs/ppo_cartpole.yaml {mode}")
    if len(named) > 2:
        raise SpecError(f"too many arguments: {' '.join(named[2:])} — usage: {USAGE}")
    if _is_mode(named[0]) or (len(named) == 2 and _is_mode(named[1])):
        raise SpecError(f"the mode comes last — usage: {USAGE}")
    return named[0], (named[1] if len(named) == 2 else None), mode


def check_data_dir(data_dir: str) -> None:
    """Make sure run folders can be written under `data_dir` (created if needed): write a scratch file
    there."""
    if os.path.exists(data_dir) and not os.path.isdir(data_dir):
        raise SpecError(f"--data-dir {data_dir} is a file, not a folder — give a folder for the run folders")
    try:
        os.makedirs(data_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as error:
        raise SpecError(
            f"--data-dir {data_dir} is not a writable folder ({error.strerror}) — pick another with"
            " --data-dir"
        ) from None


def check_trial_spec(path: str) -> None:
    """`enjoy@path` must be a trial spec written by a run: a valid spec whose meta has the run's fields."""
    from jaxlab import spec as spec_module

    if not os.path.isfile(path):
        raise SpecError(
            f"enjoy@{path}: give a trial spec of a run, data/<run>/<name>_t<T>_spec.json ({path} is not a"
            " file)"
        )
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

        if args.mode.startswith("enjoy@"):
            trial_spec = args.mode.removeprefix("enjoy@")
            check_trial_spec(trial_spec)
            spec = spec_module.load(args.spec or trial_spec, name=args.spec_name)
            return enjoy(spec, trial_spec, args.episodes, args.render)
        from jaxlab import experiment

        if args.mode.startswith("train@"):
            experiment.resume(
                args.mode.removeprefix("train@"),
                args.spec,
                args.overrides,
                args.spec_name,
                progress=not args.no_progress,
            )
            return 0
        spec = spec_module.load(args.spec, args.overrides, args.spec_name)
        check_data_dir(args.data_dir)
        if args.mode == "search":
            experiment.search(spec, args.data_dir, progress=not args.no_progress, keep=args.keep)
        else:
            experiment.run(spec, args.mode, args.data_dir, progress=not args.no_progress)
    except SpecError as error:
        return fail(str(error))
    except KeyboardInterrupt:  # Ctrl-C before or after a run's own handling (imports, set-up)
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
        return _run_ended_early(error)
    return 0


def _run_ended_early(error: Exception) -> int:
    """The run's own early endings: interrupted (exit 128 + signal) or every session diverged (exit 3)."""
    from jaxlab.experiment import AllDiverged, Interrupted

    if isinstance(error, AllDiverged):
        return fail(
            "every session diverged (non-finite loss or params) — their rows up to then, metrics and"
            " graphs are in"
            f" {error.root}; lower the learning rate (agent.net.optim_spec.lr) or clip gradients"
            " (agent.net.clip_grad_val)",
            EXIT_DIVERGED,
        )
    if not isinstance(error, Interrupted):
        raise error
    how = (
        f"resume with: {error.resume_command}"
        if error.resume_command
        else "a search is not resumable; its trials so far are in the folder (see experiment_df's finished)"
    )
    print(
        f"jaxlab: {signal.Signals(error.signum).name}: everything so far is in {error.root} — {how}",
        file=sys.stderr,
    )
    return EXIT_SIGNAL + error.signum


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"jaxlab: error: {message}", file=sys.stderr)
    return code


def enjoy(spec: dict, trial_spec_path: str, episodes: int, render: bool) -> int:
    from jaxlab import enjoy as enjoy_mode

    result = enjoy_mode.enjoy(spec, trial_spec_path, episodes, render)
    print(
        f"session {result.session} ({result.checkpoint}): return {result.returns.mean():.2f} ± "
        f"{result.returns.std():.2f} over {len(result.returns)} episodes"
    )
    if result.gif:
        print(f"GIF of episode 0: {result.gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
