"""`meta.search_backend: ray`: a search's programs (groups of trials that share one compiled program) run as
Ray Tune trials, so a cluster can spread them over machines. Needs `pip install jaxlab[ray]`.

Each Ray trial builds and runs one program's trials (only those: their specs travel with the trial) into
the shared run folder, with `meta.search_resources` per trial.
Within a program, successive halving masks trials as in the local backend; across programs, Ray's own
ASHAScheduler (the same grace_period and reduction_factor, in frames) may stop a whole program at a rung.
The program saves everything it has (CSVs, best and final weights) before it reports at each rung, and
the programs Ray stopped get their metrics and graphs from those files afterwards, so no rows are lost.
"""

from __future__ import annotations

import json
import os
import tempfile

from jaxlab.halving import SuccessiveHalving
from jaxlab.interrupt import Interrupt, SaveRecord
from jaxlab.io import analysis
from jaxlab.io import log as run_log
from jaxlab.io.graphs import PngRenderer
from jaxlab.io.paths import RunPaths
from jaxlab.schema import SpecError
from jaxlab.search import ProgramTrials, SearchPlan
from jaxlab.spec.common import trial_resources

RAY_INSTALL = 'pip install -e ".[ray]"'  # as the README says
METRIC = "total_reward_ma"  # the best running trial's eval total_reward_ma at the rung


def check_installed() -> None:
    """Refuse a Ray search where Ray Tune is not installed, with the README's install command."""
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise SpecError(
            f"meta.search_backend: ray needs Ray Tune — {RAY_INSTALL}, or use search_backend: local"
        ) from None


def run_programs(spec: dict, plan: SearchPlan, paths: RunPaths, renderer: PngRenderer) -> None:
    """Run every program of `plan` (drawn from `spec`) as a Ray Tune trial on a local Ray instance, or on
    the cluster of RAY_ADDRESS. The programs' results stay in their workers: everything is in the folder."""
    if "RAY_ADDRESS" not in os.environ:
        # A local instance only: Ray then uses the loopback address instead of the host's (read when ray is
        # imported).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    check_installed()
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    resources = trial_resources(spec["meta"])
    halving = plan.halving
    scheduler = FIFOScheduler()
    if halving:
        scheduler = ASHAScheduler(
            time_attr="frame",
            grace_period=halving.grace_period,
            reduction_factor=halving.reduction_factor,
            max_t=plan.total_frames,
        )
    started_here = not ray.is_initialized() and "RAY_ADDRESS" not in os.environ
    if started_here:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with tempfile.TemporaryDirectory() as ray_results:  # Ray's own records stay out of the run folder
            tuner = tune.Tuner(
                tune.with_resources(_worker(plan, paths), resources),
                param_space={"program": tune.grid_search(list(range(len(plan.programs))))},
                tune_config=tune.TuneConfig(metric=METRIC, mode="max", scheduler=scheduler),
                run_config=tune.RunConfig(name=paths.name, storage_path=ray_results, verbose=0),
            )
            errors = [str(result.error) for result in tuner.fit() if result.error]
    finally:
        if started_here:
            ray.shutdown()
    run_log.setup([paths.log_file(t) for t in plan.specs])  # the driver's log again, after Ray's
    if errors:
        raise RuntimeError(f"{len(errors)} Ray trial(s) failed; the first: {errors[0]}")
    finish_stopped(plan, paths, renderer)


def _worker(plan: SearchPlan, paths: RunPaths):
    """The function of one Ray trial: build and run one program of the search into the run folder. It holds
    plain JSON values only (each program's trial specs and samples), which Ray sends to its workers."""
    from ray import tune

    folder = RunPaths(os.path.abspath(paths.root), paths.name)
    programs = [(program.specs, program.samples) for program in plan.programs]
    rule = (plan.halving.grace_period, plan.halving.reduction_factor) if plan.halving else None

    def report(frames: int, values: dict[int, float]) -> None:
        tune.report({"frame": frames, METRIC: max(values.values(), default=float("nan"))})

    def program(config: dict) -> None:
        trials = ProgramTrials.of(*programs[config["program"]])
        run_log.setup([folder.log_file(t) for t in trials.specs])
        record = SaveRecord(folder.root, max(built.plan.total_frames for built in trials.builts.values()))
        halving = SuccessiveHalving(*rule) if rule else None
        with Interrupt(record) as interrupt, PngRenderer(folder.root) as renderer:
            result = trials.group(folder, renderer, interrupt, record, False, halving, report).run()
        report(result.total_frames, {t: m["total_reward_ma"] for t, m in result.trial_metrics.items()})

    return program


def finish_stopped(plan: SearchPlan, paths: RunPaths, renderer: PngRenderer) -> None:
    """Metrics and graphs, from their saved CSVs, for the programs Ray's scheduler stopped at a rung."""
    for program in plan.programs:
        missing = [t for t in program.specs if not os.path.exists(paths.trial_metrics(t, scalar=False))]
        if not missing:
            continue
        trials = sorted(program.specs)
        run_log.get().info(
            f"Ray's ASHA stopped the program of trials {trials}: metrics and graphs from their saved rows"
        )
        figures = {}
        for t in missing:
            columns = program.builts[t].algo.columns
            meta = program.specs[t]["meta"]
            figures.update(
                analysis.analyze_trial(paths, t, meta["max_session"], _baseline(paths, t), 0, columns)[1]
            )
        analysis.write_figures(paths, figures, renderer.ready())


def _baseline(paths: RunPaths, trial: int) -> float:
    with open(paths.trial_spec(trial)) as f:
        return json.load(f)["meta"]["random_baseline"]
