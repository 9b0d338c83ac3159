"""Sweep specifications: which values each config key takes, as every combination or as random samples.

    make sweep NAME=l2 GRID="model.l2=0.0001,0.001,0.01 training.batch_size=64,128"       6 points
    make sweep NAME=adam RANDOM=20 GRID="optimizer.learning_rate=1e-4:1e-1:log"         20 samples

A grid item is KEY=V1,V2,... (values are YAML, so 0.001, true and [256,128] all work). With RANDOM=N an
item may also be a range LOW:HIGH (uniform) or LOW:HIGH:log (log-uniform); integer bounds give integers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import yaml

from harness.errors import UserError
from harness.surface import setting

EXAMPLE = 'GRID="model.l2=0.0001,0.001,0.01 training.batch_size=64,128"'


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool
    integer: bool

    def sample(self, rng: np.random.Generator):
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.integer else float(f"{value:.4g}")


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets, so a list value such as [256,128] stays whole."""
    values, depth, current = [], 0, ""
    for character in text:
        depth += {"[": 1, "]": -1}.get(character, 0)
        if character == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += character
    return values + [current]


def _value(item: str, text: str):
    for number in (int, float):  # YAML would read 1e-4 (no decimal point) as a string
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise UserError(f"sweep item {item!r}: the value {text!r} is not valid YAML; quote it") from None


def _range(item: str, text: str) -> Range:
    parts = text.split(":")
    log = parts[-1] == "log"
    bounds = [_value(item, part) for part in (parts[:-1] if log else parts)]
    if len(bounds) != 2 or not all(isinstance(bound, int | float) and not isinstance(bound, bool) for bound in bounds):
        raise UserError(f"sweep item {item!r}: a range is LOW:HIGH or LOW:HIGH:log with two numbers")
    low, high = bounds
    if not low < high:
        raise UserError(f"sweep item {item!r}: the range's low end must be below its high end")
    if log and low <= 0:
        raise UserError(f"sweep item {item!r}: a log range needs a positive low end, e.g. 1e-4:1e-1:log")
    return Range(float(low), float(high), log, all(isinstance(bound, int) for bound in bounds))


def parse_axes(text: str, random: bool) -> dict[str, list | Range]:
    """'a.b=1,2 c=0.1:1:log' -> {'a.b': [1, 2], 'c': Range(...)}; ranges only when sampling at random."""
    axes: dict[str, list | Range] = {}
    if not text.strip():
        raise UserError(f"the sweep has no grid: give one, e.g. {EXAMPLE}")
    for item in text.split():
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise UserError(f"sweep item {item!r} is not KEY=V1,V2,...; write e.g. {EXAMPLE}")
        if key in axes:
            raise UserError(f"sweep item {item!r}: {key} appears twice; give all its values in one item")
        if ":" in values and not values.startswith(("[", "'", '"')):
            if not random:
                sample = setting("random", "N", example=True)
                raise UserError(
                    f"sweep item {item!r}: a range needs random sampling; add {sample} (e.g. {setting('random', 20)})"
                )
            axes[key] = _range(item, values)
            continue
        parsed = [_value(item, value) for value in split_values(values)]
        if any(value is None for value in parsed):
            raise UserError(f"sweep item {item!r} has an empty value; separate values with single commas")
        axes[key] = parsed
    return axes


def grid_points(axes: dict[str, list]) -> list[dict]:
    """Every combination, the last key varying fastest."""
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def random_points(axes: dict[str, list | Range], count: int, seed: int) -> list[dict]:
    """`count` points; ranges are sampled, lists are chosen from uniformly. The same seed gives the same points."""
    if count < 1:
        raise UserError(f"{setting('random', count)}: sample at least one point")
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(count):
        point = {}
        for key, values in axes.items():
            point[key] = values.sample(rng) if isinstance(values, Range) else values[rng.integers(len(values))]
        points.append(point)
    return points


def as_override(key: str, value) -> str:
    """A point's value as a --set item, in YAML flow style so lists and strings read back the same."""
    return f"{key}={yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix('...').strip()}"


def point_label(parameters: dict) -> str:
    """{'model.l2': 0.001, 'training.batch_size': 64} -> 'model.l2=0.001 training.batch_size=64'."""
    return " ".join(as_override(key, value) for key, value in parameters.items())
