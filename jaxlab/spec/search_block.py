"""SLM Lab's search block, `dotted.key__fn: args` (nested or dotted), checked against the spec's schema:
which keys may be searched, the functions (Ray Tune's meanings) and their arguments. Drawing the trials is
`jaxlab/search.py`'s."""

from __future__ import annotations

import math
from typing import Any

from jaxlab.schema import Field, SpecError, show, suggest

# SLM Lab's search block, `dotted.key__fn: args`, with Ray Tune's meaning of each function.
SEARCH_FUNCTIONS = {
    "uniform": "[low, high]",
    "loguniform": "[low, high] with low > 0",
    "choice": "a non-empty list of values",
    "randint": "[low, high]: integers, high excluded",
    "qrandint": "[low, high, q]: multiples of q, high included",
}
SEARCHABLE = ("agent", "env")  # name and meta shape the experiment itself, so they are not searched


def flatten_search(raw: Any, path: str = "") -> dict[str, Any]:
    """The search block's leaves as {"agent.algorithm.gamma__uniform": args}, from nested or dotted keys."""
    if not isinstance(raw, dict):
        where = f"search.{path}" if path else "search"
        raise SpecError(
            f"{show(where).strip(chr(39))} must be a mapping of key__function: args"
            " — e.g. agent.algorithm.gamma__uniform: [0.95, 0.999]"
        )
    flat = {}
    for key, value in raw.items():
        dotted = f"{path}.{key}" if path else str(key)
        if "__" in str(key):
            flat[dotted] = value
        else:
            flat.update(flatten_search(value, dotted))
    return flat


def check_search(raw: Any, schema: dict) -> dict[str, Any]:
    """The validated search block, flat and sorted: {"agent.algorithm.gamma__uniform": [0.95, 0.999], ...}."""
    flat = flatten_search(raw)
    if not flat:
        raise SpecError(
            "search is empty — give at least one key__function: args, e.g. agent.algorithm.gamma__uniform:"
            " [0.95, 0.999]"
        )
    searched = {}
    for dotted, args in sorted(flat.items()):
        key, function = dotted.rsplit("__", 1)
        where = f"search.{show(dotted).strip(chr(39))}"
        if function not in SEARCH_FUNCTIONS:
            raise SpecError(
                f"{where}: unknown search function {show(function)} — use one of"
                f" {', '.join(SEARCH_FUNCTIONS)}{suggest(function, SEARCH_FUNCTIONS)}"
            )
        parts = key.split(".")
        if parts[0] not in SEARCHABLE:
            raise SpecError(f"{where}: only agent.* and env.* keys can be searched, not {show(parts[0])}")
        node = schema
        for depth, part in enumerate(parts):
            if isinstance(node, Field) and node.kind == "section":
                node = node.sub  # an optional section: search its keys as if it were given
            if not isinstance(node, dict) or part not in node:
                known = list(node) if isinstance(node, dict) else []
                raise SpecError(
                    f"{where}: {'.'.join(parts[: depth + 1])} is not a spec key{suggest(part, known)}"
                )
            node = node[part]
        if isinstance(node, dict):
            raise SpecError(f"{where}: {key} is a section — search one of its keys ({', '.join(node)})")
        if key in searched:
            raise SpecError(f"{where}: {key} is searched twice — keep one function for it")
        _check_search_args(where, function, args)
        searched[key] = dotted
    return {dotted: flat[dotted] for dotted in searched.values()}


def _check_search_args(where: str, function: str, args: Any) -> None:
    def numbers(count: int, integer: bool) -> bool:
        kinds = int if integer else (int, float)
        return (
            isinstance(args, list)
            and len(args) == count
            and all(isinstance(x, kinds) and not isinstance(x, bool) and math.isfinite(x) for x in args)
        )

    fix = f" — give {SEARCH_FUNCTIONS[function]}, got {show(args)}"
    if function == "choice":
        if not isinstance(args, list) or not args:
            raise SpecError(f"{where} needs {SEARCH_FUNCTIONS[function]}, got {show(args)}")
        return
    if function in ("uniform", "loguniform"):
        ok = numbers(2, integer=False) and args[0] < args[1] and (function == "uniform" or args[0] > 0)
    elif function == "randint":
        ok = numbers(2, integer=True) and args[0] < args[1]
    else:  # qrandint
        ok = numbers(3, integer=True) and args[2] > 0 and args[0] <= args[1] and bool(multiples(*args))
    if not ok:
        raise SpecError(f"{where}: bad range{fix}")


def multiples(low: int, high: int, q: int) -> range:
    return range(-(-low // q) * q, high + 1, q)
