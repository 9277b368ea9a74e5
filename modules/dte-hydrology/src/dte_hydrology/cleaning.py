"""Input checks shared by every model: a bad series is refused with a message that names the series,
the positions and the values at fault, so the user of a workflow sees why a step failed.

The one cleaning done on request is filling short gaps by linear interpolation (:func:`fill_gaps`);
nothing is ever cleaned silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import numpy as np

SHOWN = 5  # positions listed in a message


class HydrologyInputError(ValueError):
    """A series or parameter a model cannot use; the message says what to fix."""


def _positions(index: np.ndarray, values: np.ndarray | None = None) -> str:
    shown = [f"{i}" if values is None else f"{i} ({values[i]:g})" for i in index[:SHOWN]]
    more = f" and {len(index) - SHOWN} more" if len(index) > SHOWN else ""
    return ", ".join(shown) + more


def series(values: Sequence[float | None] | np.ndarray, name: str, *, minimum: float | None = None,
           allow_gaps: bool = False) -> np.ndarray:
    """``values`` as a 1-D float array. Missing values (``None``, NaN) are refused unless ``allow_gaps``
    (then they stay NaN); infinite values and values below ``minimum`` are always refused."""
    try:
        array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise HydrologyInputError(f"{name} must be a list of numbers: {exc}") from None
    if array.ndim != 1:
        raise HydrologyInputError(f"{name} must be a flat list of numbers")
    if array.size == 0:
        raise HydrologyInputError(f"{name} is empty")
    missing = np.flatnonzero(np.isnan(array))
    if missing.size and not allow_gaps:
        raise HydrologyInputError(f"{name} has {missing.size} missing value(s) at index {_positions(missing)}; "
                                  "fill them first (fill_gaps interpolates short gaps)")
    infinite = np.flatnonzero(np.isinf(array))
    if infinite.size:
        raise HydrologyInputError(f"{name} has infinite value(s) at index {_positions(infinite)}")
    if minimum is not None:
        below = np.flatnonzero(array < minimum)
        if below.size:
            raise HydrologyInputError(f"{name} must be >= {minimum:g}; bad value(s) at index "
                                      f"{_positions(below, array)}")
    return array


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the named series, or an error that gives every length."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise HydrologyInputError("the series must have the same length: "
                                  + ", ".join(f"{n} has {k}" for n, k in lengths.items()))
    return next(iter(lengths.values()))


def fill_gaps(values: Sequence[float | None] | np.ndarray, name: str, *, max_gap: int) -> np.ndarray:
    """Fill runs of at most ``max_gap`` missing values by linear interpolation between their neighbours;
    a longer run, or one at either end of the series, is refused (there is nothing to interpolate from)."""
    array = series(values, name, allow_gaps=True)
    missing = np.isnan(array)
    if not missing.any():
        return array
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for start, stop in zip(starts, stops, strict=True):
        if start == 0 or stop == array.size:
            raise HydrologyInputError(f"{name}: the gap at index {start}..{stop - 1} touches the end of the series; "
                                      "it cannot be interpolated")
        if stop - start > max_gap:
            raise HydrologyInputError(f"{name}: the gap at index {start}..{stop - 1} is {stop - start} values long, "
                                      f"longer than max_gap={max_gap}")
    known = np.flatnonzero(~missing)
    filled = array.copy()
    filled[missing] = np.interp(np.flatnonzero(missing), known, array[known])
    return filled


def parse_day(text: str | date, name: str = "date") -> date:
    """A calendar day from ``YYYY-MM-DD`` (or a full ISO timestamp, whose date part is taken)."""
    if isinstance(text, datetime):
        return text.date()
    if isinstance(text, date):
        return text
    try:
        return datetime.fromisoformat(text).date()
    except (TypeError, ValueError):
        raise HydrologyInputError(f"{name} {text!r} is not an ISO date like 2024-01-31") from None


def daily(times: Sequence[str], values: Sequence[float | None], name: str) -> tuple[list[date], np.ndarray]:
    """Pair timestamps with values and sort them by day (documented cleaning: observations may arrive
    out of order). Two values for one day, or a day missing between the first and the last, are refused."""
    if len(times) != len(values):
        raise HydrologyInputError(f"{name}: {len(times)} timestamps for {len(values)} values")
    days = [parse_day(t, f"{name} timestamp") for t in times]
    array = series(values, name, allow_gaps=True)
    order = np.argsort(np.array([d.toordinal() for d in days]), kind="stable")
    ordinals = np.array([days[i].toordinal() for i in order])
    steps = np.diff(ordinals)
    repeated = np.flatnonzero(steps == 0)
    if repeated.size:
        raise HydrologyInputError(f"{name}: more than one value for day(s) "
                                  + ", ".join(str(date.fromordinal(int(ordinals[i]))) for i in repeated[:SHOWN]))
    skipped = np.flatnonzero(steps > 1)
    if skipped.size:
        raise HydrologyInputError(f"{name}: day(s) missing after "
                                  + ", ".join(str(date.fromordinal(int(ordinals[i]))) for i in skipped[:SHOWN])
                                  + "; give a value (null for unknown) for every day")
    return [days[i] for i in order], array[order]
