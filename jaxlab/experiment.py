"""Experiment -> Trial control, in SLM Lab's words: the drivers of the modes. `run` (train and dev) and
`resume` (train@) drive one trial, `search` drives the programs of a search; each claims the run folder,
starts the log, and hands the trials to `trial.TrialGroup` inside the run's signal handling. Nothing
numeric happens here."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from jaxlab import spec as spec_module
from jaxlab.build import Built, build, check_sizes, dev_spec
from jaxlab.devices import enable_compilation_cache
from jaxlab.interrupt import Interrupt, SaveRecord
from jaxlab.io import analysis, checkpoints, specs, train_state
from jaxlab.io import log as run_log
from jaxlab.io.files import zip_folder
from jaxlab.io.graphs import PngRenderer
from jaxlab.io.paths import FolderInUse, RunPaths, release
from jaxlab.schema import SpecError
from jaxlab.search import SearchPlan
from jaxlab.trial import NO_HOOKS, Hooks, TrialGroup, TrialOptions, TrialResult


class Interrupted(Exception):
    """A run stopped by SIGINT/SIGTERM, after writing everything it had."""

    def __init__(self, root: str, signum: int, resume_command: str | None):
        super().__init__(root)
        self.root, self.signum, self.resume_command = root, signum, resume_command


class AllDiverged(Exception):
    """Every session of the run went non-finite; its folder holds their rows up to then."""

    def __init__(self, root: str):
        super().__init__(root)
        self.root = root


def start_run(spec: dict, mode: str, data_dir: str, log_trials: list[int]) -> RunPaths:
    """Claim the run folder; its text log(s) and `{name}_spec.json`."""
    enable_compilation_cache()
    paths = RunPaths.create(spec["name"], data_dir)
    log = run_log.setup([paths.log_file(t) for t in log_trials], verbose=mode == "dev")
    log.info(f"{mode} run of {spec['name']}: output in {paths.root}")
    specs.write_spec(paths, spec)
    return paths


def resume_command(paths: RunPaths) -> str:
    return f"python -m jaxlab.run train@{paths.root}"


def run(
    spec: dict, mode: str = "train", data_dir: str = "data", progress: bool = True, hooks: Hooks = NO_HOOKS
) -> TrialResult:
    """Run a spec in `train` or `dev` mode and write its folder under `data_dir`."""
    spec, built = dev_spec(spec) if mode == "dev" else (spec, build(spec))
    check_sizes(built, spec["meta"]["max_session"], hooks.device_memory)  # before the run folder exists
    paths = start_run(spec, mode, data_dir, [0])
    try:
        options = TrialOptions(verbose=mode == "dev", progress=progress, resumable=True, hooks=hooks)
        return _run_trial(paths, spec, built, options)
    finally:
        release(paths.root)


def _run_trial(paths: RunPaths, spec: dict, built: Built, options: TrialOptions) -> TrialResult:
    """The one trial of train mode, inside the run's signal handling; zipped when it finishes."""
    record = SaveRecord(paths.root, built.plan.total_frames, resume_command(paths), paths.train_state_dir(0))
    with Interrupt(record) as interrupt, PngRenderer(paths.root) as renderer:
        result = TrialGroup({0: spec}, built, [built.hp], paths, renderer, interrupt, record, options).run()
    return _end(paths, result)


def resume(
    folder: str,
    spec_file: str | None = None,
    overrides: list[str] = (),
    spec_name: str | None = None,
    progress: bool = True,
) -> TrialResult:
    """`train@data/<run>`: go on with an interrupted train-mode run, in its folder, from the spec it started
    with (its `{name}_spec.json`, or `spec_file`), with `overrides`. That must be the spec the run started
    with, except for a higher env.max_frame (train further). The rows it adds equal those of a run that was
    never interrupted (same device, same max_frame)."""
    try:
        paths = RunPaths.existing(folder, lock=True)
    except ValueError as error:
        raise SpecError(f"train@{folder}: {error}") from None
    except FolderInUse as error:
        raise SpecError(f"train@{folder}: {error} — wait for it to end") from None
    try:
        started = _stored_spec(paths)
        given = spec_module.load(spec_file or paths.spec(), overrides, spec_name)
        spec = _resumable(paths, given, started)
        built = build(spec)
        check_sizes(built, spec["meta"]["max_session"])
        enable_compilation_cache()
        log = run_log.setup([paths.log_file(0)])
        log.info(f"resuming {paths.root}")
        if spec["env"]["max_frame"] != started["env"]["max_frame"]:
            log.info(
                f"training further: env.max_frame raised from {started['env']['max_frame']:,} to"
                f" {spec['env']['max_frame']:,}"
            )
            specs.write_spec(paths, spec)
        return _run_trial(paths, spec, built, TrialOptions(progress=progress, resumable=True, resume=True))
    finally:
        release(paths.root)


def _stored_spec(paths: RunPaths) -> dict:
    """The spec a run folder's run started with (`{name}_spec.json`: overrides applied)."""
    if not os.path.isfile(paths.spec()):
        raise SpecError(
            f"train@{paths.root}: no {os.path.basename(paths.spec())} — it is not a jaxlab run folder"
        )
    return spec_module.load(paths.spec())


def _resumable(paths: RunPaths, given: dict, started: dict) -> dict:
    """The spec to resume with: `given`, when it equals `started` but for a raised env.max_frame."""
    wanted, was = given["env"]["max_frame"], started["env"]["max_frame"]
    same_frames = {**given, "env": {**given["env"], "max_frame": was}}
    if difference := spec_module.first_difference(same_frames, started):
        raise SpecError(
            f"train@{paths.root}: {difference} — resume with the spec the run started with (leave out the"
            " spec file"
            f" to use its {os.path.basename(paths.spec())}); only env.max_frame may be raised, to train"
            " further"
        )
    if wanted < was:
        raise SpecError(
            f"train@{paths.root}: env.max_frame = {wanted:,} is below the run's {was:,} — resume can only"
            " train"
            " further (raise env.max_frame, or leave it)"
        )
    if not train_state.exists(paths.train_state_dir(0)):
        raise SpecError(
            f"train@{paths.root}: no saved training state (model/{paths.trial_prefix(0)}_train_state/) —"
            " only a train"
            " run stopped by Ctrl-C or SIGTERM can be resumed; a finished run has nothing left to train"
        )
    return given


def _end(paths: RunPaths, result: TrialResult) -> TrialResult:
    """Zip a finished run; an interrupted one stays unzipped, ready to resume."""
    if result.interrupted is not None:
        raise Interrupted(paths.root, result.interrupted, resume_command(paths))
    run_log.get().info(f"zipped to {zip_folder(paths.root)}")
    if result.all_diverged:
        raise AllDiverged(paths.root)
    return result


@dataclass
class ExperimentResult:
    paths: RunPaths
    experiment_df: pd.DataFrame  # best strength first
    programs: list[TrialResult]  # one per compiled program (local backend)


def search(
    spec: dict, data_dir: str = "data", progress: bool = True, keep: int | None = None
) -> ExperimentResult:
    """`search` mode: `meta.max_trial` trials drawn from the spec's search block, one compiled program per
    group of trials that differ only in floats; experiment_df and multi-trial graphs at the end."""
    plan = SearchPlan.draw(spec)
    ray = spec["meta"]["search_backend"] == "ray"
    if ray:
        from jaxlab import ray_search

        ray_search.check_installed()  # before anything is written
    paths = start_run(spec, "search", data_dir, list(plan.specs))
    log = run_log.get()
    sizes = ", ".join(str(len(program.specs)) for program in plan.programs)
    log.info(
        f"search: {len(plan.specs)} trials in {len(plan.programs)}"
        f" compiled program{'s' if len(plan.programs) > 1 else ''}"
        f" (trials per program: {sizes}) on the {spec['meta']['search_backend']} backend"
    )
    record = SaveRecord(paths.root, plan.total_frames)
    try:
        with Interrupt(record) as interrupt, PngRenderer(paths.root) as renderer:
            programs = []
            if ray:
                ray_search.run_programs(
                    spec, plan, paths, renderer
                )  # the results stay in Ray's workers, the files here
            else:
                for program in plan.programs:
                    programs.append(
                        program.group(paths, renderer, interrupt, record, progress, plan.halving).run()
                    )
                    if programs[-1].interrupted is not None:
                        break
            analysed = {
                t: s for t, s in plan.samples.items() if os.path.exists(paths.trial_metrics(t, scalar=False))
            }
            interrupted = {
                t for program in programs if program.interrupted is not None for t in program.trial_metrics
            }
            experiment_df, figures = analysis.analyze_experiment(paths, analysed, interrupted)
            analysis.write_figures(paths, figures, renderer.ready())
        if programs and programs[-1].interrupted is not None:
            raise Interrupted(paths.root, programs[-1].interrupted, None)
        best = experiment_df.iloc[0]
        log.info(
            f"best trial {int(best['trial'])}: strength {best['strength']:.2f}, total_reward_ma"
            f" {best['total_reward_ma']:.2f}"
        )
        if keep is not None:
            checkpoints.keep_trials(paths, experiment_df["trial"].tolist()[:keep])
        log.info(f"zipped to {zip_folder(paths.root)}")
        return ExperimentResult(paths, experiment_df, programs)
    finally:
        release(paths.root)
