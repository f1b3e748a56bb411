"""The statistics of the signal study (internal): forward returns, block bootstrap, base rates.

Pure NumPy on arrays with one value per bar, in bar order; :mod:`btcflow_nb.study` wires them to
``flow_metrics`` and documents what each number means.

Forward return
    ``R[t, k] = S[t+k] / S[t] − 1``: the simple return of the spot price ``S`` over ``k`` bars,
    measured from the close of bar ``t`` (bars are labelled by their open time, prices are bar
    closes). NaN when ``t + k`` is past the data or either price is missing or not positive.

Circular block bootstrap (Politis & Romano 1992)
    Forward returns of neighbouring bars overlap (``R[t, h]`` and ``R[t+1, h]`` share ``h − 1``
    bars), so bars cannot be resampled one by one: that would treat overlapping windows as
    independent and give intervals far too narrow. Instead the bar timeline is resampled in
    blocks of ``L`` consecutive bars, each block starting at a uniformly drawn bar and wrapping
    around the end, until ``N`` bars are drawn. Within a block, the overlap of the windows and
    the order of onsets and returns are kept. A statistic (the mean return after onsets, the mean
    over all bars, their difference) is recomputed on each resample; the interval is the
    percentile interval of those draws. ``L`` defaults to ``max(H, ⌈N^{1/3}⌉)`` with ``H`` the
    longest horizon: at least the overlap, and the classic ``N^{1/3}`` rate for a mean
    (Hall, Horowitz & Jing 1995).

Base rate
    The share of all windows of ``h`` consecutive bars (``t .. t+h−1``) holding at least one onset:
    the chance that a window chosen at random "contains a signal". A signal whose base rate is
    high "precedes" almost any move.
"""
from __future__ import annotations

import math

import numpy as np

#: Resamples per matrix product (bounds memory: a chunk holds CHUNK × N weights).
_CHUNK = 250


def forward_returns(spot, max_h: int) -> np.ndarray:
    """``N × (max_h + 1)`` matrix ``R[t, k] = S[t+k] / S[t] − 1`` (fraction), NaN where undefined."""
    s = np.asarray(spot, dtype="float64").copy()
    with np.errstate(invalid="ignore"):
        s[~(s > 0)] = np.nan
    n = len(s)
    out = np.full((n, max_h + 1), np.nan)
    for k in range(min(max_h, n - 1) + 1):
        out[: n - k, k] = s[k:] / s[: n - k] - 1.0
    return out


def default_block_length(n_bars: int, max_h: int) -> int:
    """``max(H, ⌈N^{1/3}⌉)`` bars (at least 1)."""
    return max(int(max_h), math.ceil(max(n_bars, 1) ** (1.0 / 3.0) - 1e-9), 1)


def block_starts(n_bars: int, block: int, n_boot: int, seed: int) -> np.ndarray:
    """Block start bars of ``n_boot`` circular-block resamples, ``n_boot × ⌈N / L⌉`` (seeded)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, max(n_bars, 1), size=(n_boot, math.ceil(n_bars / block)))


def resample_weights(starts: np.ndarray, n_bars: int, block: int) -> np.ndarray:
    """How often each bar appears in each resample (``len(starts) × N``; each row sums to N)."""
    b = len(starts)
    idx = (starts[:, :, None] + np.arange(block)) % n_bars
    idx = idx.reshape(b, -1)[:, :n_bars] + (np.arange(b) * n_bars)[:, None]
    return np.bincount(idx.ravel(), minlength=b * n_bars).reshape(b, n_bars).astype("float64")


def mean_paths(R: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``R[t, k]`` over the event bars ``t`` with a value, for each ``k``; and how many.

    ``events`` is ``S × N`` boolean (one row per signal). Returns ``(means S × K, counts S × K)``.
    """
    valid = np.isfinite(R)
    r0 = np.where(valid, R, 0.0)
    e = np.asarray(events, dtype="float64")
    num, den = e @ r0, e @ valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan), den.astype("int64")


def bootstrap_mean_paths(R: np.ndarray, events: np.ndarray, n_boot: int, seed: int,
                         block: int) -> np.ndarray:
    """Bootstrap draws of :func:`mean_paths`, ``(S + 1) × n_boot × K``; the last row is all bars.

    Every signal is measured on the same resamples (common random numbers), so a signal's draw
    minus the all-bars draw is a draw of its excess return.
    """
    n, k = R.shape
    valid = np.isfinite(R)
    r0 = np.where(valid, R, 0.0)
    rows = np.vstack([np.asarray(events, dtype="float64"), np.ones(n)])   # (S+1) × N
    # columns: for each row s, [e_s · R0 | e_s · valid]  ->  N × (S+1)·2K
    design = np.concatenate([np.hstack([r0 * w[:, None], valid * w[:, None]]) for w in rows],
                            axis=1)
    starts = block_starts(n, block, n_boot, seed)
    out = np.empty((len(rows), n_boot, k))
    for lo in range(0, n_boot, _CHUNK):
        sums = resample_weights(starts[lo:lo + _CHUNK], n, block) @ design
        sums = sums.reshape(len(sums), len(rows), 2, k)
        num, den = sums[:, :, 0], sums[:, :, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, lo:lo + _CHUNK] = np.where(den > 0, num / np.where(den > 0, den, 1),
                                              np.nan).transpose(1, 0, 2)
    return out


def percentile_interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0 ignoring NaN draws; NaN where no draw has a value."""
    d = np.asarray(draws, dtype="float64")
    ok = np.isfinite(d).any(axis=0)
    q = [50 * (1 - level), 50 * (1 + level)]
    lo = np.full(d.shape[1:], np.nan)
    hi = np.full(d.shape[1:], np.nan)
    if ok.any():
        vals = np.nanpercentile(d[:, ok], q, axis=0)
        lo[ok], hi[ok] = vals[0], vals[1]
    return lo, hi


def base_rate(events, h: int) -> float:
    """Share of windows of ``h`` consecutive bars holding at least one event (NaN if none fit)."""
    e = np.asarray(events, dtype=bool)
    if len(e) < h:
        return float("nan")
    c = np.concatenate([[0], np.cumsum(e)])
    return float(np.mean(c[h:] - c[:-h] > 0))


def hit_rate(returns, direction: str) -> float:
    """Share of finite ``returns`` strictly in ``direction`` (``"up"``: > 0, ``"down"``: < 0)."""
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    if not len(r):
        return float("nan")
    return float(np.mean(r > 0 if direction == "up" else r < 0))
