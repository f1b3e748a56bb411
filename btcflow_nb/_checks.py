"""Uniform, explicit ``ValueError`` messages: every one names the value and the valid choices."""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np


def choice_error(name: str, value, choices: Iterable, hint: str = "") -> ValueError:
    """``ValueError`` for a value outside a fixed set of choices."""
    listed = ", ".join(repr(c) for c in choices)
    return ValueError(f"unknown {name} {value!r}{hint}; valid choices: {listed}")


def check_choice(name: str, value, choices: Iterable):
    choices = tuple(choices)
    if value not in choices:
        raise choice_error(name, value, choices)
    return value


def check_window(name: str, value) -> int:
    """A lookback in bars: an integer >= 1 (Python or numpy integer, or a whole float)."""
    shown = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer())
    if isinstance(value, (bool, np.bool_)) or not whole or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of bars >= 1; got {shown!r}")
    return int(value)


def check_range(name: str, value, low=None, high=None, *, low_open=False) -> float:
    """A real-valued parameter inside ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    value = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value  # np scalar
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if isinstance(value, bool) or math.isnan(x):
        raise ValueError(f"{name} must be a number; got {value!r}")
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and x > high
    if too_low or too_high:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}={value!r} is out of range; valid range: {bracket}{lo}, {hi}]")
    return x


def check_venues(kind: str, requested, available: Iterable[str]) -> list[str]:
    """Validate a venue selection against the venues present in the data.

    ``None`` selects every available venue. Unknown names raise, listing the known ones.
    """
    available = list(available)
    if requested is None:
        return available
    if isinstance(requested, str):
        requested = [requested]
    if isinstance(requested, dict) or not hasattr(requested, "__iter__"):
        raise ValueError(f"{kind} venues must be a venue name or a list of them; got {requested!r}; "
                         f"valid choices: {', '.join(repr(a) for a in available)}")
    requested = list(requested)
    unknown = [v for v in requested if v not in available]
    if unknown:
        raise ValueError(
            f"unknown {kind} venue(s) {', '.join(repr(u) for u in unknown)}; "
            f"valid choices: {', '.join(repr(a) for a in available) or '(none in this data)'}"
        )
    if not requested:
        raise ValueError(f"select at least one {kind} venue; valid choices: "
                         f"{', '.join(repr(a) for a in available)}")
    return requested
