"""The vocabulary of spec schemas: a `Field` per leaf key (default, type, range), the helpers that make the
common kinds, and the walk that fills defaults and checks a raw mapping against a schema. Every problem
raises `SpecError` with one line naming the key and the fix.

The spec package (`jaxlab/spec/`) assembles a spec's schema from the sections every spec has and the
sections each algorithm declares (`jaxlab/algos/`); both use this module, which imports nothing of jaxlab.
"""

from __future__ import annotations

import copy
import difflib
import math
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INT_MAX = 2**31 - 1  # JAX counts, indexes and shapes in int32
REQUIRED = object()  # the default of a key every spec must give
REQUIRED_KEYS = ("agent.algorithm.name", "env.name", "env.max_frame")


class SpecError(ValueError):
    """A spec or command-line problem, phrased for the user in one line."""


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: its default (or REQUIRED), accepted type and allowed range."""

    default: Any
    kind: str  # "int", "float", "bool", "str", "int_list", "int_lists", "section", "mapping", "any"
    rule: str = ""  # the range in words, for error messages ("> 0")
    check: Callable[[Any], bool] = field(default=lambda _: True)
    choices: tuple = ()
    nullable: bool = False
    sub: dict | None = None  # a "section"'s schema


def integer(default: Any, low: int = 0, nullable: bool = False) -> Field:
    return Field(default, "int", f">= {low}", lambda v: v >= low, nullable=nullable)


def real(
    default: Any, low: float, high: float = math.inf, low_open: bool = False, nullable: bool = False
) -> Field:
    rule = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high < math.inf else "")
    return Field(
        default, "float", rule, lambda v: (v > low if low_open else v >= low) and v <= high, nullable=nullable
    )


def choice(default: Any, *choices: str) -> Field:
    return Field(default, "str", choices=choices)


def flag(default: bool) -> Field:
    return Field(default, "bool")


def section(schema: dict) -> Field:
    """An optional section: absent or null stays None; given, it is checked against `schema`."""
    return Field(None, "section", nullable=True, sub=schema)


def mapping() -> Field:
    """A free-form mapping (null when absent), checked by the code that reads it."""
    return Field(None, "mapping", nullable=True)


def anything(default: Any = None) -> Field:
    """A key accepted as it is and recorded in the trial spec (SLM Lab's `gpu`: it changes nothing here)."""
    return Field(default, "any", nullable=True)


SCHEDULE_NAMES = ("no_decay", "linear_decay", "rate_decay")


def schedule(start_val: float) -> dict:
    """SLM Lab's variable schedule (`*_spec`), in frames."""
    return {
        "name": choice("no_decay", *SCHEDULE_NAMES),
        "start_val": real(start_val, 0.0),
        "end_val": real(start_val, 0.0, nullable=True),
        "start_step": integer(0),
        "end_step": integer(0),
    }


def optional_schedule(start_val: float) -> Field:
    """A schedule SLM Lab leaves out when its key is absent or null (an entropy bonus: none)."""
    return section(schedule(start_val))


def is_schedule(section: Any) -> bool:
    """Whether a validated value is one of SLM Lab's variable schedules."""
    return isinstance(section, dict) and {"name", "start_val", "end_val", "start_step", "end_step"} <= set(
        section
    )


# Values echoed in error messages are cut short: a hostile spec could hold a huge string or a YAML alias bomb.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 8, 4, 60, 60


def show(value: Any) -> str:
    """A value as it may appear in a one-line message: cut short."""
    return _SHORT.repr(value)


def suggest(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1, cutoff=0.6)
    return f" — did you mean {close[0]}?" if close else ""


def describe(spec_field: Field) -> str:
    if spec_field.choices:
        return "one of " + ", ".join(map(str, spec_field.choices))
    return spec_field.rule or spec_field.kind


def validate_section(raw: Any, schema: dict, path: str) -> dict:
    """Fill defaults and check `raw` against `schema`, recursively: unknown keys (with the nearest known one),
    missing required keys, types and ranges."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{path or 'the spec'} must be a mapping of keys, got {type(raw).__name__}")
    for key in raw:
        if key not in schema:
            where = show(f"{path}.{key}" if path else str(key)).strip("'\"")
            close = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
            fix = (
                f"did you mean {path + '.' if path else ''}{close[0]}?"
                if close
                else f"known keys: {', '.join(schema)}"
            )
            raise SpecError(f"unknown key {where} — {fix}")
    out = {}
    for key, sub in schema.items():
        where = f"{path}.{key}" if path else key
        if isinstance(sub, dict):
            out[key] = validate_section(raw.get(key), sub, where)
        elif key not in raw and sub.default is REQUIRED:
            raise SpecError(f"{where} is required — every spec gives {', '.join(REQUIRED_KEYS)}")
        else:
            out[key] = coerce(where, copy.deepcopy(raw.get(key, sub.default)), sub)
    return out


def coerce(path: str, value: Any, spec_field: Field) -> Any:
    """Return `value` converted to the field's type, or raise a SpecError naming `path`."""
    if value is None:
        if spec_field.nullable:
            return None
        raise SpecError(f"{path} must not be null — give a value ({describe(spec_field)})")
    kind = spec_field.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise SpecError(f"{path} must be true or false, got {show(value)}")
    if kind in ("int", "float"):
        return _number(path, value, spec_field)
    if kind == "str":
        if not isinstance(value, str):
            raise SpecError(f"{path} must be a string, got {show(value)}")
        if spec_field.choices and value not in spec_field.choices:
            hint = suggest(value, spec_field.choices)
            raise SpecError(
                f"{path} = {show(value)} is not one of {', '.join(map(str, spec_field.choices))}{hint}"
            )
        return value
    if kind in ("int_list", "float_list", "conv_layers"):
        return _coerce_list(path, value, spec_field)
    if kind == "section":
        return validate_section(value, spec_field.sub, path)
    if kind == "mapping":
        if not isinstance(value, dict):
            raise SpecError(f"{path} must be a mapping of keys, got {show(value)}")
        return value
    if kind == "any":
        return value
    raise AssertionError(f"unknown field kind {kind}")


def _coerce_list(path: str, value: Any, spec_field: Field) -> list:
    """A list field's value, checked: ints, floats, or conv layers."""
    if spec_field.kind == "int_list":
        if not isinstance(value, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in value
        ):
            raise SpecError(f"{path} must be {spec_field.rule}, got {show(value)}")
        if not spec_field.check(value) or any(abs(x) > INT_MAX for x in value):
            raise SpecError(
                f"{path} = {show(value)} is out of range — it must be {spec_field.rule} up to {INT_MAX:,}"
            )
        return list(value)
    if spec_field.kind == "float_list":
        numbers = isinstance(value, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value
        )
        if not numbers or not spec_field.check(value):
            raise SpecError(f"{path} must be {spec_field.rule}, got {show(value)}")
        return [float(x) for x in value]
    # conv_layers
    ok = (
        isinstance(value, list)
        and value
        and all(
            isinstance(layer, list)
            and 3 <= len(layer) <= 5
            and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= INT_MAX for x in layer)
            and min(layer[:3]) > 0
            and (len(layer) < 5 or layer[4] > 0)
            for layer in value
        )
    )
    if not ok:
        raise SpecError(f"{path} must be {spec_field.rule}, got {show(value)}")
    return [list(layer) for layer in value]


def _number(path: str, value: Any, spec_field: Field) -> int | float:
    number = value
    if isinstance(value, str):
        try:
            number = float(value)  # YAML 1.1 reads 1e-5 and 5e5 as strings
        except ValueError:
            raise SpecError(f"{path} must be a number ({describe(spec_field)}), got {show(value)}") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise SpecError(f"{path} must be a number ({describe(spec_field)}), got {show(value)}")
    if isinstance(number, float) and not math.isfinite(number):  # ints are finite; math.isfinite overflows
        raise SpecError(f"{path} must be a finite number ({describe(spec_field)}), got {show(value)}")
    if spec_field.kind == "int":
        if isinstance(number, float) and not number.is_integer():
            raise SpecError(f"{path} must be a whole number ({describe(spec_field)}), got {show(value)}")
        number = int(number)
    if isinstance(number, int) and abs(number) > INT_MAX:  # also before float(): a huge int overflows it
        raise SpecError(f"{path} = {show(value)} is too large — at most {INT_MAX:,} (jaxlab counts in int32)")
    if spec_field.kind == "float":
        number = float(number)
    if not spec_field.check(number):
        raise SpecError(f"{path} = {show(value)} is out of range — it must be {spec_field.rule}")
    return number
