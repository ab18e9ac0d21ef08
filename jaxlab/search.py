"""Search mode's trials: drawing them from the spec's search block (seeded by `meta.random_seed`), building
them, and grouping them into programs (trials that differ only in float hyperparameters share one compiled
program, vmapped over trials x sessions). The runs themselves are `experiment.search`'s (local) or
`ray_search`'s (Ray Tune)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxlab import spec as spec_module
from jaxlab.build import Built, build, check_sizes
from jaxlab.halving import SuccessiveHalving
from jaxlab.interrupt import Interrupt, SaveRecord
from jaxlab.io.paths import RunPaths
from jaxlab.schema import SpecError, show
from jaxlab.spec.search_block import multiples
from jaxlab.trial import TrialGroup, TrialOptions

MAX_TRIALS = 10_000  # each trial is validated and built up front (a few ms each)


def draw(rng: np.random.Generator, function: str, args: list) -> Any:
    """One value from a search function, as a plain JSON value."""
    if function == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if function == "loguniform":
        return float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    if function == "choice":
        return copy.deepcopy(args[int(rng.integers(len(args)))])
    if function == "randint":
        return int(rng.integers(args[0], args[1]))
    values = multiples(*args)
    return int(values[int(rng.integers(len(values)))])


def sample_trials(spec: dict) -> list[tuple[dict, dict]]:
    """`meta.max_trial` trial specs drawn from the spec's search block (seeded by meta.random_seed), each with
    its sample {dotted key: value}. Each is validated like any spec, so a range that reaches a bad value says
    so."""
    if spec["meta"]["max_trial"] > MAX_TRIALS:
        raise SpecError(
            f"meta.max_trial = {spec['meta']['max_trial']:,}: a search draws, checks and builds every"
            " trial before it"
            f" starts — use at most {MAX_TRIALS:,}"
        )
    rng = np.random.default_rng(spec["meta"]["random_seed"])
    base = {k: v for k, v in spec.items() if k != "search"}
    trials = []
    for trial in range(spec["meta"]["max_trial"]):
        sample = {
            dotted.rsplit("__", 1)[0]: draw(rng, dotted.rsplit("__", 1)[1], args)
            for dotted, args in spec["search"].items()
        }
        raw = copy.deepcopy(base)
        for key, value in sample.items():
            *sections, leaf = key.split(".")
            node = raw
            for section in sections:
                if node.get(section) is None:  # an optional section left out: the draw gives it
                    node[section] = {}
                node = node[section]
            node[leaf] = value
        try:
            trials.append((spec_module.validate(raw), sample))
        except SpecError as error:
            raise SpecError(
                f"search: trial {trial} drew {show(sample)}, which is not a valid spec: {error}"
            ) from None
    return trials


def group_trials(builts: list[Built]) -> list[list[int]]:
    """Trial indices grouped by program: trials that compile the same (`Built.same_program`) share one."""
    groups: list[list[int]] = []
    for trial, built in enumerate(builts):
        for group in groups:
            if builts[group[0]].same_program(built):
                group.append(trial)
                break
        else:
            groups.append([trial])
    return groups


@dataclass
class ProgramTrials:
    """The trials of one program: their specs and samples, and the pieces built for them."""

    specs: dict[int, dict]
    samples: dict[int, dict]
    builts: dict[int, Built]

    @classmethod
    def of(cls, specs: dict[int, dict], samples: dict[int, dict]) -> ProgramTrials:
        """Build them again from their specs (a Ray worker gets only its program's)."""
        return cls(specs, samples, {t: build(s) for t, s in specs.items()})

    def group(
        self,
        paths: RunPaths,
        renderer: Any,
        interrupt: Interrupt,
        record: SaveRecord,
        progress: bool,
        halving: SuccessiveHalving | None,
        report=None,
    ) -> TrialGroup:
        first = min(self.specs)
        options = TrialOptions(progress=progress, samples=self.samples, halving=halving, report=report)
        hps = [self.builts[t].hp for t in sorted(self.specs)]
        return TrialGroup(self.specs, self.builts[first], hps, paths, renderer, interrupt, record, options)


@dataclass
class SearchPlan:
    """A search's trials, grouped into programs, and its successive halving."""

    specs: dict[int, dict]
    samples: dict[int, dict]
    programs: list[ProgramTrials]
    halving: SuccessiveHalving | None

    @classmethod
    def draw(cls, spec: dict) -> SearchPlan:
        """Draw the trials, build and group them, and check their sizes: all before anything is written."""
        if "search" not in spec:
            raise SpecError(
                "search mode needs a search block in the spec — e.g. search:"
                " {agent.algorithm.gamma__uniform: [0.95, 0.999]}"
            )
        drawn = sample_trials(spec)
        builts = [build(trial_spec) for trial_spec, _ in drawn]
        programs = []
        for group in group_trials(builts):
            check_sizes(builts[group[0]], len(group) * spec["meta"]["max_session"])
            programs.append(
                ProgramTrials(
                    {t: drawn[t][0] for t in group},
                    {t: drawn[t][1] for t in group},
                    {t: builts[t] for t in group},
                )
            )
        scheduler = spec["meta"]["search_scheduler"]
        halving = SuccessiveHalving(**scheduler) if scheduler["grace_period"] else None
        return cls(
            {t: trial_spec for t, (trial_spec, _) in enumerate(drawn)},
            {t: sample for t, (_, sample) in enumerate(drawn)},
            programs,
            halving,
        )

    @property
    def total_frames(self) -> int:
        return max(built.plan.total_frames for program in self.programs for built in program.builts.values())
