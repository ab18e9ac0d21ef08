"""What every spec has, whatever its algorithm: its `name` and `meta` sections, the runtime keys a run adds
to meta, and the rules that span sections (a usable name, conv layers that fit the env's images, schedules
that go somewhere, a successive-halving grace period that leaves rows to judge)."""

from __future__ import annotations

import re

from jaxlab.algos.layers import check_net
from jaxlab.envs import EnvDescription, env_name_problem
from jaxlab.schema import Field, SpecError, anything, choice, integer, is_schedule, real, show

META_SCHEMA = {
    "max_session": integer(4, 1),
    "max_trial": integer(1, 1),
    "log_frequency": integer(10_000, 1),  # SLM Lab's defaults
    "eval_frequency": integer(10_000, 1),
    # eval env copies (deterministic policy) at every eval_frequency frames; 0: the eval df is the train df
    "rigorous_eval": integer(0, 0),
    "random_seed": integer(0, 0),
    # search mode: successive halving of trials in frames (ASHA's grace_period and reduction_factor); 0
    # frames: off
    "search_scheduler": {"grace_period": integer(0), "reduction_factor": integer(3, 2)},
    "search_backend": choice("local", "local", "ray"),
    # per Ray trial, in SLM Lab's form {cpu, gpu} or Ray's {num_cpus, num_gpus}
    "search_resources": {
        "cpu": real(None, 0.0, nullable=True),
        "gpu": real(None, 0.0, nullable=True),
        "num_cpus": real(1.0, 0.0),
        "num_gpus": real(0.0, 0.0),
    },
    "distributed": anything(False),  # SLM Lab's Hogwild mode: only false here
}
NAME_FIELD = Field("jaxlab", "str")

# What a run adds to `meta` in its specs (io/specs.py, docs/output.md); ignored when a trial spec is run
# again.
RUNTIME_META_KEYS = (
    "experiment",
    "experiment_ts",
    "trial",
    "session",
    "predir",
    "prepath",
    "graph_prepath",
    "info_prepath",
    "log_prepath",
    "model_prepath",
    "session_keys",
    "git_sha",
    "versions",
    "device",
    "random_baseline",
    "compile_seconds",
    "observation_shape",
    "action_space",
    "networks",
    "search_sample",
    "diverged_sessions",
    "interrupted_at_frame",
)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
NAME_MAX_LENGTH = 200  # the run folder adds _YYYY_MM_DD_HHMMSS; most filesystems stop at 255 bytes
NET_SECTIONS = ("net", "critic_net")  # agent sections that describe a network


def check_name_and_env(spec: dict) -> None:
    name = spec["name"]
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise SpecError(
            f"name {show(name)} is not usable as a folder name — use letters, digits, '_', '-' or '.'"
            " (no '/' or '..')"
        )
    if len(name) > NAME_MAX_LENGTH:
        raise SpecError(
            f"name is {len(name)} characters long — use at most {NAME_MAX_LENGTH} for a folder name"
        )
    if problem := env_name_problem(spec["env"]["name"]):
        raise SpecError(problem)


def trial_resources(meta: dict) -> dict[str, float]:
    """A Ray trial's {"cpu": .., "gpu": ..} from meta.search_resources in either form."""
    resources = meta["search_resources"]
    return {
        key: resources[key] if resources[key] is not None else resources[f"num_{key}s"]
        for key in ("cpu", "gpu")
    }


def check_relations(spec: dict, env: EnvDescription) -> None:
    """The rules that span sections, for every algorithm."""
    if spec["meta"]["distributed"] not in (False, None, "false", 0):
        raise SpecError(
            f"meta.distributed = {show(spec['meta']['distributed'])} is SLM Lab's Hogwild mode — jaxlab"
            " already"
            " runs meta.max_session sessions vmapped in one program; set distributed: false"
        )
    for section in NET_SECTIONS:
        net = spec["agent"].get(section)
        if net:
            check_net(net, f"agent.{section}")
        if net and net["type"].endswith("ConvNet"):
            _check_conv(net["conv_hid_layers"], env, net["type"], f"agent.{section}")
    meta = spec["meta"]
    grace, row_frames = meta["search_scheduler"]["grace_period"], meta["log_frequency"]
    if meta["rigorous_eval"]:
        row_frames = max(row_frames, meta["eval_frequency"])
    if 0 < grace < 3 * row_frames:
        raise SpecError(
            f"meta.search_scheduler.grace_period = {grace} frames would stop trials before they have 3"
            " DataFrame rows"
            f" — make it at least {3 * row_frames} (3 x log_frequency / eval_frequency) or 0 for no early"
            " stopping"
        )
    for key, sched in spec["agent"]["algorithm"].items():
        if not is_schedule(sched):
            continue
        if sched["name"] != "no_decay" and sched["end_step"] <= sched["start_step"]:
            raise SpecError(
                f"agent.algorithm.{key}.end_step must be greater than start_step for {sched['name']}"
            )
        if (
            sched["name"] == "rate_decay"
            and min(sched["start_val"], sched["end_val"] or sched["start_val"]) <= 0
        ):
            raise SpecError(
                f"agent.algorithm.{key}: rate_decay needs start_val and end_val > 0 — or use linear_decay"
            )


def _check_conv(layers: list, env: EnvDescription, net_type: str, section: str) -> None:
    if len(env.obs_shape) != 3:
        mlp = net_type.replace("ConvNet", "MLPNet")
        raise SpecError(
            f"{section}.type = {net_type} needs image observations, but {env.name} has shape"
            f" {list(env.obs_shape)}"
            f" — use {mlp}"
        )
    size = min(env.obs_shape[:2])
    for i, layer in enumerate(layers):
        _, kernel, stride, padding, dilation = [*layer, *(0, 1)[len(layer) - 3 :]]
        reach = dilation * (kernel - 1) + 1
        if reach > size + 2 * padding:
            raise SpecError(
                f"{section}.conv_hid_layers[{i}] has kernel {kernel} but its input is only {size} pixels wide"
                " — use smaller kernels or fewer layers"
            )
        size = (size + 2 * padding - reach) // stride + 1
