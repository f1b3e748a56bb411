"""The indicator engine: exact definitions, one function each.

Conventions
-----------
- Windows are in bars and must be whole numbers >= 1.
- A rolling value needs ``length`` valid values in its window: any NaN inside the window makes
  the result NaN (as TA-Lib does on a gap-free series, and as Pine's ``ta.sma`` does with ``na``).
  After a gap, values resume once ``length`` consecutive valid values exist again.
- ``stdev`` is the **population** standard deviation (divide by N), as Pine's ``ta.stdev`` and
  TA-Lib's ``STDDEV``. pandas' ``Series.std()`` defaults to the *sample* deviation (N - 1), which
  for a 20-bar Bollinger band is 2.6 % wider: a classic porting bug.
- Series in, Series out; the index is preserved.

References: TA-Lib (``SMA``, ``STDDEV``, ``BBANDS``); Pine Script v5 reference (``ta.sma``,
``ta.stdev``, ``ta.bb``, ``ta.crossover``, ``ta.crossunder``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_range, check_window

HOURS_PER_YEAR = 24 * 365

__all__ = [
    "sma", "stdev", "zscore", "bollinger", "crossover", "crossunder",
    "premium_abs", "premium_pct", "basket", "annualize_funding", "funding_twap",
    "composite_funding", "oi_at_bar_close", "aggregate_oi",
]


def _series(x, name: str = "x") -> pd.Series:
    if isinstance(x, pd.Series):
        return x.astype("float64")
    if isinstance(x, pd.DataFrame):
        raise ValueError(f"{name} must be a Series or 1-d array, not a DataFrame")
    arr = np.asarray(x, dtype="float64")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    return pd.Series(arr, copy=False)   # read only here: no defensive copy


#: Windows whose variance is below this fraction of the magnitudes it is differenced from are
#: recomputed two-pass (see :func:`_moments_into`); everywhere else the one-pass formula's
#: relative error is at most ~``eps / _ILL_CONDITIONED`` ~ 1e-13.
_ILL_CONDITIONED = 1e-3

#: Window ends per chunk of :func:`_moments_into`, at least. Its six work arrays of this length
#: (~1.5 MB) are allocated once per call: whole-series work arrays (6 x 8 MB at 1M bars) cost a
#: page fault per 4 KiB on first touch, which was a third of the kernel's time.
_CHUNK = 2**15


def _block_size(length: int) -> int:
    """Window ends per reference block in :func:`_moments_into` (at least ``length - 1``)."""
    return max(8 * length, 256)


def _sliding_sums(a: np.ndarray, length: int, out: np.ndarray, scratch) -> None:
    r"""``out[j] = a[j] + a[j+1] + ... + a[j+length-1]`` for every full window, by doubling.

    Window sums of ``2s`` values are two shifted window sums of ``s`` values, and a window of
    ``L`` values is the sum of the windows of its binary digits: ``floor(log2 L) + popcount(L)
    - 1`` vector additions (5 for L = 20). Each result is a pairwise sum of at most ``L`` terms,
    so nothing drifts the way a running sum (``cumsum`` differences) does. ``scratch`` holds
    three arrays at least ``len(a)`` long; they are overwritten.
    """
    n_out = len(a) - length + 1
    parked = parked_buffer = None        # the lowest binary digit's sums, until a second digit
    summed = False
    part, part_buffer, size, offset = a, None, 1, 0
    while True:
        if length & size:
            piece = part[offset:offset + n_out]
            offset += size
            if summed:
                out[:n_out] += piece
            elif parked is not None:
                np.add(parked, piece, out=out[:n_out])
                summed, parked_buffer = True, None
            elif size * 2 > length:                    # length == 1
                np.copyto(out[:n_out], piece)
                return
            else:
                parked, parked_buffer = piece, part_buffer
        if size * 2 > length:
            return
        if parked is None and size * 2 == length:      # a power of two: last doubling is it
            np.add(part[:n_out], part[size:size + n_out], out=out[:n_out])
            return
        free = next(k for k in range(3) if k != part_buffer and k != parked_buffer)
        doubled = scratch[free][:len(part) - size]
        np.add(part[:-size], part[size:], out=doubled)
        part, part_buffer, size = doubled, free, size * 2


def _moments_into(x: np.ndarray, length: int, mean_out: np.ndarray,
                  var_out: np.ndarray | None) -> np.ndarray:
    r"""Rolling mean and population variance, accurate to ~1e-12 relative, in O(n), by chunks.

    Fills ``mean_out[length-1:]`` and ``var_out[length-1:]`` (the windows ending at each bar;
    ``var_out`` None: the mean only) and returns the bars whose windows are ill-conditioned,
    where ``var_out`` still holds the one-pass value (see :func:`_rolling_moments`).

    Running sums of ``x`` and ``x**2`` lose digits when the level is large against the spread
    (prices near 1e5 with a spread of 1e2) and drift when the level trends (pandas' online
    algorithm drifts to ~1e-4 relative on a long price history). Here every value is first
    re-centred on a reference ``c_k`` of its block (``B`` = :func:`_block_size` window ends,
    ``c_k`` a value from the block's middle), and the window sums of ``d = x - c`` and ``d**2``
    are short pairwise sums (:func:`_sliding_sums`, no running total):

    .. math:: \bar x = c_k + \frac{S_1}{L}, \qquad \sigma^2 = \frac{S_2}{L} - \left(\frac{S_1}{L}\right)^2,
              \qquad S_j = \sum_{\text{window}} (x_i - c_k)^j

    The first ``L - 1`` windows of block ``k`` reach ``m`` values back into block ``k - 1``,
    which were centred on ``c_{k-1}``; with :math:`\Delta = c_{k-1} - c_k` and :math:`P` the sum
    of those ``m`` values of ``d``, they are moved to ``c_k`` exactly:
    :math:`S_1 \mathrel{+}= m\Delta`, :math:`S_2 \mathrel{+}= 2\Delta P + m\Delta^2`.

    Where the variance is below ``_ILL_CONDITIONED`` of the magnitudes it was differenced from
    (a spread tiny against the distance to ``c``), the one-pass value has lost digits: those
    windows are returned for a two-pass recomputation. Windows holding a NaN give NaN.

    The work goes chunk by chunk (``_CHUNK`` window ends and more), so its work arrays are a few
    MB, allocated once, whatever the length of ``x``.
    """
    L = length
    n = len(x)
    need_var = var_out is not None
    ill_ends = []
    if n < L:
        return np.array([], dtype=np.intp)
    B = _block_size(L)
    chunk = B * max(16, -(-_CHUNK // B))
    rows = chunk + B                                   # values per chunk: lead-in + blocks
    work = np.empty((6, rows))
    straddle_back = np.arange(L - 1, 0, -1, dtype="float64")      # m for p = 0 .. L-2
    for start in range(L - 1, n, chunk):
        stop = min(start + chunk, n)
        xs = x[start - (L - 1):stop]                   # the windows ending at start .. stop-1
        m = len(xs)
        nb = -(-m // B)
        used = nb * B                                  # whole blocks
        d, s1, s2 = work[3, :used], work[4, :used], work[5, :used]
        with np.errstate(over="ignore", invalid="ignore"):  # a NaN or inf reaches the sum
            all_finite = bool(np.isfinite(np.add.reduce(xs)))
        finite = None if all_finite else np.isfinite(xs)
        ref = xs[np.minimum(np.arange(nb) * B + B // 2, m - 1)]
        if not all_finite:
            for k in np.flatnonzero(~np.isfinite(ref)):    # a finite value of the block, else 0
                ok = np.flatnonzero(finite[k * B:(k + 1) * B])
                ref[k] = xs[k * B + ok[0]] if len(ok) else 0.0
        full = m // B * B
        np.subtract(xs[:full].reshape(-1, B), ref[:full // B, None],
                    out=d[:full].reshape(-1, B))
        np.subtract(xs[full:], ref[-1], out=d[full:m])
        d[m:] = 0.0
        if not all_finite:
            d[:m][~finite] = 0.0
        s1[:L - 1] = 0.0
        s1[m:] = 0.0
        _sliding_sums(d[:m], L, s1[L - 1:], work[:3])                 # S1, ends at each value
        blocks1 = s1.reshape(nb, B)
        straddle = L > 1 and nb > 1
        if straddle:
            delta = ref[:-1] - ref[1:]                                 # c_{k-1} - c_k, k >= 1
            m_delta = delta[:, None] * straddle_back                   # (nb-1, L-1)
            blocks1[1:, :L - 1] += m_delta
            if need_var:                   # P: sums of the last L-1-p values of block k-1
                tail = d.reshape(nb, B)[:-1, B - L + 1:]
                if nb - 1 >= L - 1:        # many blocks: add whole columns, right to left
                    tail = np.ascontiguousarray(tail.T)
                    for p in range(L - 3, -1, -1):
                        tail[p] += tail[p + 1]
                    tail = tail.T
                else:
                    tail = np.cumsum(tail[:, ::-1], axis=1)[:, ::-1]
        s1 *= 1.0 / L                                                  # mean - c
        if need_var:
            np.multiply(d, d, out=d)
            s2[:L - 1] = 0.0
            s2[m:] = 0.0
            _sliding_sums(d[:m], L, s2[L - 1:], work[:3])             # S2
            blocks2 = s2.reshape(nb, B)
            if straddle:
                head = blocks2[1:, :L - 1]
                m_delta2 = m_delta * delta[:, None]
                magnitude = head + m_delta2        # what the corrected S2 is differenced from
                head += m_delta2
                head += (2.0 * delta)[:, None] * tail
            s2 *= 1.0 / L                                              # S2 / L
            mean_sq, limit = work[0, :used], work[1, :used]
            np.multiply(s1, s1, out=mean_sq)
            np.multiply(s2, _ILL_CONDITIONED, out=limit)
            np.subtract(s2, mean_sq, out=s2)
            ill_mask = np.less(s2, limit, out=work[2].view(bool)[:used])
            if straddle:
                ill_mask.reshape(nb, B)[1:, :L - 1] = (
                    blocks2[1:, :L - 1] < magnitude * (_ILL_CONDITIONED / L))
            ill = np.flatnonzero(ill_mask[L - 1:m])
            var = var_out[start:stop]
            np.copyto(var, s2[L - 1:m])
        blocks1 += ref[:, None]
        mean = mean_out[start:stop]
        np.copyto(mean, s1[L - 1:m])
        if not all_finite:
            bad = np.concatenate([[0], np.cumsum(~finite)])
            has_bad = (bad[L:] - bad[:-L]) > 0
            mean[has_bad] = np.nan
            if need_var:
                var[has_bad] = np.nan
                ill = ill[~has_bad[ill]]
        if need_var and len(ill):
            ill_ends.append(ill + start)
    return np.concatenate(ill_ends) if ill_ends else np.array([], dtype=np.intp)


def _two_pass_variance(x: np.ndarray, length: int, ends: np.ndarray, var: np.ndarray) -> None:
    """``var[ends]`` = the population variance of the windows ending at ``ends``, two-pass.

    Windows of identical values get exactly 0 (no rounding residue, no spurious z-scores).
    """
    windows = np.lib.stride_tricks.sliding_window_view(x, length)
    step = max(1, 2_000_000 // length)
    with np.errstate(invalid="ignore", over="ignore"):
        for lo in range(0, len(ends), step):
            part = ends[lo:lo + step]
            win = windows[part - (length - 1)]
            dev = win - win.mean(axis=1, keepdims=True)
            two_pass = (dev * dev).mean(axis=1) - dev.mean(axis=1) ** 2
            two_pass[(win == win[:, :1]).all(axis=1)] = 0.0
            var[part] = np.maximum(two_pass, 0.0)


def _rolling_moments(values, length: int, need_var: bool = True,
                     out: np.ndarray | None = None):
    """Rolling mean and population variance as whole arrays (NaN before a full window).

    See :func:`_moments_into` for the method. Ill-conditioned windows are recomputed
    two-pass here, all at once. ``out``: an optional ``(2, n)`` array (``(1, n)`` without the
    variance) to fill. Returns ``(mean, var)``; ``var`` is None when ``need_var`` is False.
    """
    x = np.asarray(values, dtype="float64")
    n = len(x)
    if out is None:
        out = np.empty((2 if need_var else 1, n))
    mean = out[0]
    var = out[1] if need_var else None
    mean[:length - 1] = np.nan
    if need_var:
        var[:length - 1] = np.nan
    ill = _moments_into(x, length, mean, var)
    if len(ill):
        _two_pass_variance(x, length, ill, var)
    return mean, var


def _like(values: np.ndarray, s: pd.Series) -> pd.Series:
    return pd.Series(values, index=s.index)


def sma(x, length: int) -> pd.Series:
    r"""Simple moving average over ``length`` bars.

    .. math:: \mathrm{SMA}_t = \frac{1}{L}\sum_{i=0}^{L-1} x_{t-i}

    NaN until ``length`` values exist and wherever the window holds a NaN.

    >>> sma(pd.Series([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    length = check_window("length", length)
    s = _series(x)
    return _like(_rolling_moments(s.to_numpy(), length, need_var=False)[0], s)


def stdev(x, length: int) -> pd.Series:
    r"""Population standard deviation over ``length`` bars (divide by N, not N - 1).

    .. math:: \sigma_t = \sqrt{\frac{1}{L}\sum_{i=0}^{L-1} (x_{t-i} - \mathrm{SMA}_t)^2}

    A window of identical values gives exactly 0. Same NaN rules as :func:`sma`.

    >>> stdev(pd.Series([1.0, 3.0]), 2).tolist()   # sample std would say 1.414
    [nan, 1.0]
    """
    length = check_window("length", length)
    s = _series(x)
    return _like(np.sqrt(_rolling_moments(s.to_numpy(), length)[1]), s)


def zscore(x, window: int) -> pd.Series:
    r"""Rolling z-score: how many (population) standard deviations ``x`` is from its mean.

    .. math:: z_t = \frac{x_t - \mathrm{SMA}(x, w)_t}{\sigma(x, w)_t}

    NaN until ``window`` values exist, and NaN — never ``inf`` — where the window has zero
    variance (the z-score is undefined there). A spread below ``1e-10`` of the window mean's
    magnitude counts as zero: it is floating-point rounding of a constant (e.g. an OI-weighted
    mean of venues all paying 0.01 % per 8 h), and its z-score would be noise of any size. Real
    variation is many orders of magnitude larger. The current bar is part of its own window, as
    in Pine (``(x - ta.sma(x, w)) / ta.stdev(x, w)``).
    """
    window = check_window("window", window)
    s = _series(x)
    values = s.to_numpy()
    mean, sd = _rolling_moments(values, window)
    np.sqrt(sd, out=sd)
    z = np.subtract(values, mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        z /= sd
    rounding = np.abs(mean, out=mean)              # the mean is no longer needed
    rounding *= _ROUNDING_SPREAD
    z[np.less_equal(sd, rounding)] = np.nan        # includes sd == 0; NaN windows stay NaN
    return _like(z, s)


#: Relative spread (std / |mean|) below which a window counts as constant in :func:`zscore`.
_ROUNDING_SPREAD = 1e-10


def bollinger(x, length: int = 20, mult: float = 2.0) -> pd.DataFrame:
    """Bollinger bands: basis ``SMA(x, L)``, upper/lower ``basis ± mult · stdev(x, L)``.

    ``stdev`` is the population deviation (TA-Lib ``BBANDS`` with ``matype=0``, Pine ``ta.bb``).

    Returns a DataFrame with columns ``basis, upper, lower``.
    """
    length = check_window("length", length)
    mult = check_range("mult", mult, 0, None)
    s = _series(x)
    bands = np.empty((3, len(s)))        # rows: basis, upper, lower (the frame's columns)
    basis, width = _rolling_moments(s.to_numpy(), length, out=bands[::2])
    np.sqrt(width, out=width)            # variance -> half-width, in the "lower" row
    width *= mult
    np.add(basis, width, out=bands[1])
    np.subtract(basis, width, out=width)
    return pd.DataFrame(bands.T, index=s.index, columns=["basis", "upper", "lower"], copy=False)


def _pair(a, b):
    a = _series(a, "a")
    if np.isscalar(b):
        b = pd.Series(float(b), index=a.index)
    else:
        b = _series(b, "b")
        if len(b) != len(a):
            raise ValueError(f"a and b must have the same length; got {len(a)} and {len(b)}")
        b = pd.Series(b.to_numpy(), index=a.index)
    return a.to_numpy(), b.to_numpy(), a.index


def crossover(a, b) -> pd.Series:
    """True at ``t`` iff ``a_t > b_t`` and ``a_{t-1} <= b_{t-1}`` (Pine ``ta.crossover``).

    Comparisons with NaN are False, so no cross is reported into or out of a gap. ``b`` may be a
    scalar (a fixed level).
    """
    av, bv, idx = _pair(a, b)
    out = np.zeros(len(av), dtype=bool)
    out[1:] = (av[1:] > bv[1:]) & (av[:-1] <= bv[:-1])
    return pd.Series(out, index=idx)


def crossunder(a, b) -> pd.Series:
    """True at ``t`` iff ``a_t < b_t`` and ``a_{t-1} >= b_{t-1}`` (Pine ``ta.crossunder``)."""
    av, bv, idx = _pair(a, b)
    out = np.zeros(len(av), dtype=bool)
    out[1:] = (av[1:] < bv[1:]) & (av[:-1] >= bv[:-1])
    return pd.Series(out, index=idx)


# ---------------------------------------------------------------------------- premium


def basket(prices: pd.DataFrame, weights: pd.DataFrame | None = None) -> pd.Series:
    """Mean close across venues at each bar, over the venues that have a close.

    With ``weights`` (same shape, e.g. each venue's OI in USD), the weighted mean over venues that
    have both a close and a positive weight; bars with no such venue are NaN.
    """
    if not isinstance(prices, pd.DataFrame):
        raise ValueError(f"prices must be a wide DataFrame (one column per venue); "
                         f"got {type(prices).__name__}")
    if prices.shape[1] == 0:
        return pd.Series(np.nan, index=prices.index)
    if weights is None:
        return prices.mean(axis=1, skipna=True)
    w = weights.reindex(index=prices.index, columns=prices.columns)
    w = w.where(prices.notna() & (w > 0))
    total = w.sum(axis=1, min_count=1)
    return (prices * w).sum(axis=1, min_count=1) / total


def _aligned(a, b, name_a: str, name_b: str) -> tuple[pd.Series, pd.Series]:
    """Two Series are aligned on their index (pandas rules); an array takes the other's index
    (same length required), so ``premium_pct(series, array)`` compares bar by bar."""
    sa, sb = _series(a, name_a), _series(b, name_b)
    a_series, b_series = isinstance(a, pd.Series), isinstance(b, pd.Series)
    if not a_series and not b_series and len(sa) != len(sb):
        raise ValueError(f"{name_a} and {name_b} must have the same length; "
                         f"got {len(sa)} and {len(sb)}")
    if a_series != b_series:
        if len(sa) != len(sb):
            raise ValueError(f"{name_a} and {name_b} must have the same length; "
                             f"got {len(sa)} and {len(sb)}")
        if a_series:
            sb = pd.Series(sb.to_numpy(), index=sa.index)
        else:
            sa = pd.Series(sa.to_numpy(), index=sb.index)
    return sa, sb


def premium_abs(spot, futures) -> pd.Series:
    """Absolute spot premium in USD: ``S_t - F_t``.

    Positive: spot is bid above futures (spot-led); negative: futures trade rich.
    """
    s, f = _aligned(spot, futures, "spot", "futures")
    return s - f


def premium_pct(spot, perp) -> pd.Series:
    """Spot premium in percent of the perp basket: ``(S_t - P_t) / P_t × 100``.

    Positive: spot trades rich (spot-led, perps at a discount). Negative: futures premium.
    """
    s, p = _aligned(spot, perp, "spot", "perp")
    return (s - p) / p * 100.0


# ---------------------------------------------------------------------------- funding


def annualize_funding(rate, interval_hours):
    r"""Funding paid per interval -> simple yearly fraction (APR, not compounded).

    .. math:: \mathrm{APR} = \frac{r}{h} \times 24 \times 365

    >>> round(annualize_funding(0.0001, 8), 6)   # 0.01 % per 8 h
    0.1095
    >>> round(annualize_funding(0.0000125, 1), 6)   # 0.00125 % per hour: the same APR
    0.1095
    """
    h = np.asarray(interval_hours, dtype="float64")
    if np.any(~(h > 0)):
        raise ValueError(f"interval_hours must be > 0; got {interval_hours!r}")
    return rate / interval_hours * HOURS_PER_YEAR


def _hours_since_epoch(times) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8.astype("float64") / 3.6e12


def _funding_integrals(events: pd.DataFrame):
    """Per venue: breakpoints and the cumulative integrals of (per-hour rate) and (coverage).

    Each event settled at ``T`` with interval ``h`` pays ``rate`` for ``(T - h, T]``, i.e. a
    per-hour rate ``rate / h`` over that span. Where an event's span would overlap the previous
    event of the same venue (an interval change, or a stray extra settlement), it starts at the
    previous settlement instead, so every hour is counted once.
    """
    out = {}
    from .._frames import iter_venues

    for venue, g in iter_venues(events):
        end = _hours_since_epoch(g["time"])
        h = g["interval_hours"].to_numpy(dtype="float64")
        per_hour = g["rate"].to_numpy(dtype="float64") / h
        start = end - h
        if len(end) > 1:
            start[1:] = np.maximum(start[1:], end[:-1])
        dur = end - start
        # piecewise-linear cumulative functions; x strictly ordered: s0 <= e0 <= s1 <= e1 ...
        x = np.empty(2 * len(end))
        x[0::2], x[1::2] = start, end
        cum_paid = np.concatenate([[0.0], np.cumsum(per_hour * dur)])
        cum_cov = np.concatenate([[0.0], np.cumsum(dur)])
        paid = np.empty_like(x)
        cov = np.empty_like(x)
        paid[0::2], paid[1::2] = cum_paid[:-1], cum_paid[1:]
        cov[0::2], cov[1::2] = cum_cov[:-1], cum_cov[1:]
        out[venue] = (x, paid, cov, start, end, per_hour)
    return out


def _count_at_or_below(values: np.ndarray, edges: np.ndarray, step: float) -> np.ndarray:
    """``#values <= edges[i]`` for every edge of a regular grid (``edges[i] = edges[0] + i*step``).

    Same result as ``np.searchsorted(values, edges, side="right")`` for sorted ``values``, in
    O(len(values) + len(edges)): value ``v`` is counted from edge ``ceil((v - e0) / step)`` on.
    """
    k = np.ceil((values - edges[0]) / step)
    k = np.clip(k, 0, len(edges)).astype(np.int64)
    return np.cumsum(np.bincount(k, minlength=len(edges) + 1))[: len(edges)]


def _count_below(values: np.ndarray, edges: np.ndarray, step: float) -> np.ndarray:
    """``#values < edges[i]`` on a regular grid (``np.searchsorted(values, edges, "left")``)."""
    k = np.floor((values - edges[0]) / step) + 1
    k = np.clip(k, 0, len(edges)).astype(np.int64)
    return np.cumsum(np.bincount(k, minlength=len(edges) + 1))[: len(edges)]


def funding_twap(funding: pd.DataFrame, bar_opens: pd.DatetimeIndex, bar_closes: pd.DatetimeIndex,
                 min_coverage: float = 0.0) -> pd.DataFrame:
    r"""Time-weighted average *per-hour* funding rate of each venue over each bar.

    Every event is first turned into a per-hour rate ``rate / interval_hours`` covering
    ``(time - interval, time]``. For a bar ``[open, close)`` the TWAP is

    .. math:: \mathrm{TWAP} = \frac{\int_{bar} r(t)\,dt}{\text{hours of the bar covered by events}}

    so an 8-hour venue, a 4-hour venue and a 1-hour venue paying the same per-hour rate have the
    same TWAP, and a weekly TWAP equals the TWAP of the week's events — not a mean of daily means.

    Parameters
    ----------
    funding : long frame ``venue, time, rate, interval_hours`` (see :class:`MarketData`)
    bar_opens, bar_closes : DatetimeIndex (UTC) of each bar's start and end
    min_coverage : fraction of the bar that must be covered by events (0 = any overlap)

    Returns
    -------
    DataFrame indexed like ``bar_opens``, one column per venue: fraction per hour
    (multiply by 8 for "per 8 h", by 8760 for APR). NaN where a bar has no event coverage.
    """
    check_range("min_coverage", min_coverage, 0, 1)
    bo = _hours_since_epoch(bar_opens)
    bc = _hours_since_epoch(bar_closes)
    contiguous = len(bo) > 0 and np.array_equal(bo[1:], bc[:-1])
    edges = np.append(bo, bc[-1]) if contiguous else None
    widths = bc - bo
    regular = contiguous and bool((widths == widths[0]).all())
    step = float(widths[0]) if regular else None
    need = np.maximum(min_coverage * widths, 1e-9)
    integrals = _funding_integrals(funding)
    # (venues, bars) storage viewed as (bars, venues): each venue's column is contiguous and
    # the DataFrame wraps it without a copy
    table = np.empty((len(integrals), len(bo))).T
    for j, (venue, (x, paid, cov, start, end, per_hour)) in enumerate(integrals.items()):
        if contiguous:  # consecutive bars share edges: evaluate each integral once per edge
            d_paid = np.diff(np.interp(edges, x, paid))
            d_cov = np.diff(np.interp(edges, x, cov))
        else:
            d_paid = np.interp(bc, x, paid) - np.interp(bo, x, paid)
            d_cov = np.interp(bc, x, cov) - np.interp(bo, x, cov)
        with np.errstate(invalid="ignore", divide="ignore"):
            twap = np.where(d_cov >= need, d_paid / d_cov, np.nan)
        # A bar whose covering events all pay the same per-hour rate has exactly that TWAP.
        # Differences of running integrals carry ~1e-13 relative rounding noise, and a z-score
        # of noise is anything from -7 to 7: a venue stuck at 0.01 % per 8 h must give a
        # constant series (zero variance -> NaN z), not fake extremes.
        if regular:  # fixed-length bars: counts from arithmetic bins, linear time
            first = _count_at_or_below(end, edges, step)[:-1]  # first event ending after open
            stop = _count_below(start, edges, step)[1:]  # first event starting at/after close
        else:
            first = np.searchsorted(end, bo, side="right")
            stop = np.searchsorted(start, bc, side="left")
        run = np.empty(len(per_hour), dtype=np.int64)  # id of each run of equal rates
        run[0] = 0
        np.cumsum(per_hour[1:] != per_hour[:-1], out=run[1:])
        last_event = len(per_hour) - 1
        lo = np.minimum(first, last_event)
        hi = np.clip(stop - 1, 0, last_event)
        single_rate = (stop > first) & (run[lo] == run[hi]) & (d_cov >= need)
        twap = np.where(single_rate, per_hour[lo], twap)
        table[:, j] = twap
    return pd.DataFrame(table, index=pd.DatetimeIndex(bar_opens, name="time"),
                        columns=list(integrals), copy=False)


def composite_funding(twap: pd.DataFrame, weights: pd.DataFrame | None = None) -> pd.Series:
    """Composite funding across venues: the mean of the venues' bar TWAPs.

    Equal weights by default; with ``weights`` (e.g. each venue's OI in USD at the bar) the
    weighted mean over venues that have both a TWAP and a positive weight. Units are those of
    ``twap`` (fraction per hour from :func:`funding_twap`).
    """
    return basket(twap, weights)


# ---------------------------------------------------------------------------- open interest


def _last_per_label(labels: np.ndarray) -> np.ndarray:
    """For rows sorted by time: the position of the last row of each run of equal labels."""
    n = len(labels)
    if n == 0:
        return np.array([], dtype=np.int64)
    last = np.ones(n, dtype=bool)
    last[:-1] = labels[1:] != labels[:-1]
    return np.flatnonzero(last)


def oi_at_bar_close(open_interest: pd.DataFrame, bar_opens: pd.DatetimeIndex, timeframe: str,
                    unit: str = "btc") -> pd.DataFrame:
    """Per-venue open interest at each bar's close: the last sample inside the bar.

    Returns a wide frame indexed like ``bar_opens`` with one column per venue, in BTC
    (``unit="btc"``: price-neutral leverage) or USD (``unit="usd"``). Samples with a missing
    value in that unit are skipped, so the bar takes the last sample that has one.
    """
    from .._checks import check_choice
    from ..timeframes import bar_open_ns, normalize_timeframe

    check_choice("oi unit", unit, ("btc", "usd"))
    timeframe = normalize_timeframe(timeframe)  # validated even when there is no OI
    col = "oi_btc" if unit == "btc" else "oi_usd"
    bars = pd.DatetimeIndex(bar_opens, name="time")
    out = pd.DataFrame(index=bars, dtype="float64")
    if len(open_interest) == 0:
        return out
    from .._frames import iter_venues

    bar_ns = bars.as_unit("ns").asi8
    step = np.diff(bar_ns)
    regular = len(bar_ns) > 1 and bool((step == step[0]).all())
    columns = {}
    for venue, g in iter_venues(open_interest):
        vals = g[col].to_numpy(dtype="float64")
        keep = ~np.isnan(vals)
        if not keep.any():
            continue
        times_ns = pd.DatetimeIndex(g["time"]).as_unit("ns").asi8
        if not keep.all():
            vals, times_ns = vals[keep], times_ns[keep]
        labels = bar_open_ns(times_ns, timeframe)
        last = _last_per_label(labels)
        target = labels[last]
        if regular:  # fixed-length bars: the position is arithmetic
            pos = (target - bar_ns[0]) // step[0]
        else:
            pos = np.searchsorted(bar_ns, target)
        safe = np.clip(pos, 0, len(bar_ns) - 1)
        inside = (pos >= 0) & (pos < len(bar_ns)) & (bar_ns[safe] == target)
        col_vals = np.full(len(bars), np.nan)
        col_vals[pos[inside]] = vals[last[inside]]
        columns[venue] = col_vals
    if not columns:
        return out
    table = np.empty((len(columns), len(bars))).T  # contiguous per venue; wrapped, not copied
    for j, col_vals in enumerate(columns.values()):
        table[:, j] = col_vals
    return pd.DataFrame(table, index=bars, columns=list(columns), copy=False)


def aggregate_oi(oi: pd.DataFrame) -> pd.Series:
    r"""Chain-linked sum of open interest across venues.

    A plain sum jumps when a venue's history starts or stops — a step that is not leverage
    entering the market. The chain-linked aggregate grows from bar ``t-1`` to bar ``t`` by the
    growth of the venues present at **both** bars:

    .. math:: g_t = \frac{\sum_{v \in V_t \cap V_{t-1}} OI_{v,t}}{\sum_{v \in V_t \cap V_{t-1}} OI_{v,t-1}},
              \qquad A_t = S_T \prod_{s=t+1}^{T} g_s^{-1}

    and the level is anchored to the true sum ``S_T`` at the last bar with data, so the latest
    value is the real total. Bars with no venue are NaN and are skipped when linking; if two
    linked bars share no venue the growth is taken as 1 (no information, no step).

    Parameters
    ----------
    oi : wide DataFrame, one column per venue (e.g. from :func:`oi_at_bar_close`).
    """
    if not isinstance(oi, pd.DataFrame):
        raise ValueError(f"oi must be a wide DataFrame (one column per venue); got {type(oi).__name__}")
    columns = [np.asarray(oi.iloc[:, j], dtype="float64") for j in range(oi.shape[1])]
    out = np.full(len(oi), np.nan)
    if not columns or len(oi) == 0:
        return pd.Series(out, index=oi.index, name="oi_total")
    any_present = np.zeros(len(oi), dtype=bool)
    for col in columns:
        any_present |= ~np.isnan(col)
    rows = np.flatnonzero(any_present)
    if len(rows) == 0:
        return pd.Series(out, index=oi.index, name="oi_total")
    last = rows[-1]
    anchor = float(sum(c[last] for c in columns if not np.isnan(c[last])))
    if len(rows) < 2:
        out[rows] = anchor
        return pd.Series(out, index=oi.index, name="oi_total")
    # one venue at a time over contiguous columns: the sums of the venues present at both bars
    den = np.zeros(len(rows) - 1)
    num = np.zeros(len(rows) - 1)
    any_common = np.zeros(len(rows) - 1, dtype=bool)
    all_rows = len(rows) == len(oi)
    for col in columns:
        if not all_rows:
            col = col[rows]
        present = ~np.isnan(col)
        common = present[:-1] & present[1:]
        den += np.where(common, col[:-1], 0.0)
        num += np.where(common, col[1:], 0.0)
        any_common |= common
    ok = any_common & (den > 0) & (num > 0)
    log_growth = np.zeros(len(rows) - 1)
    np.log(num / np.where(ok, den, 1.0), out=log_growth, where=ok)
    log_level = np.concatenate([[0.0], np.cumsum(log_growth)])
    out[rows] = anchor * np.exp(log_level - log_level[-1])
    return pd.Series(out, index=oi.index, name="oi_total")
