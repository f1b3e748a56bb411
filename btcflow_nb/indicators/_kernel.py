"""The numerical kernel of the rolling indicators: rolling mean and population variance of every
full window, accurate to ~1e-12 relative, in O(n) and a few MB of work memory.

:func:`_rolling_moments` is what :mod:`~btcflow_nb.indicators.rolling` calls: window sums by
binary doubling (:func:`_sliding_sums`), re-centred on a reference per block of window ends and
worked chunk by chunk (:func:`_moments_into`), with ill-conditioned windows recomputed two-pass
(:func:`_two_pass_variance`). ``window`` is the lookback in bars, written ``L`` in the
formulas. Also the Series helpers the indicator modules share.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

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


#: Values per chunk of :func:`_two_pass_variance` (windows x window length), at least one
#: window: a few hundred KB per work array, so the passes over a chunk hit the CPU cache.
_TWO_PASS_CHUNK = 2**15


def _block_size(window: int) -> int:
    """Window ends per reference block in :func:`_moments_into` (at least ``window - 1``)."""
    return max(8 * window, 256)


def _sliding_sums(a: np.ndarray, window: int, out: np.ndarray, scratch) -> None:
    r"""``out[j] = a[j] + a[j+1] + ... + a[j+window-1]`` for every full window, by doubling.

    Window sums of ``2s`` values are two shifted window sums of ``s`` values, and a window of
    ``L`` values is the sum of the windows of its binary digits: ``floor(log2 L) + popcount(L)
    - 1`` vector additions (5 for L = 20). Each result is a pairwise sum of at most ``L`` terms,
    so nothing drifts the way a running sum (``cumsum`` differences) does. ``scratch`` holds
    three arrays at least ``len(a)`` long; they are overwritten.
    """
    n_out = len(a) - window + 1
    parked = parked_buffer = None        # the lowest binary digit's sums, until a second digit
    summed = False
    part, part_buffer, size, offset = a, None, 1, 0
    while True:
        if window & size:
            piece = part[offset:offset + n_out]
            offset += size
            if summed:
                out[:n_out] += piece
            elif parked is not None:
                np.add(parked, piece, out=out[:n_out])
                summed, parked_buffer = True, None
            elif size * 2 > window:                    # window == 1
                np.copyto(out[:n_out], piece)
                return
            else:
                parked, parked_buffer = piece, part_buffer
        if size * 2 > window:
            return
        if parked is None and size * 2 == window:      # a power of two: last doubling is it
            np.add(part[:n_out], part[size:size + n_out], out=out[:n_out])
            return
        free = next(k for k in range(3) if k != part_buffer and k != parked_buffer)
        doubled = scratch[free][:len(part) - size]
        np.add(part[:-size], part[size:], out=doubled)
        part, part_buffer, size = doubled, free, size * 2


def _moments_into(x: np.ndarray, window: int, mean_out: np.ndarray,
                  var_out: np.ndarray | None) -> np.ndarray:
    r"""Rolling mean and population variance, accurate to ~1e-12 relative, in O(n), by chunks.

    Fills ``mean_out[window-1:]`` and ``var_out[window-1:]`` (the windows ending at each bar;
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
    L = window
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


def _two_pass_variance(x: np.ndarray, window: int, ends: np.ndarray, var: np.ndarray) -> None:
    """``var[ends]`` = the population variance of the windows ending at ``ends``, two-pass.

    Windows of identical values get exactly 0 (no rounding residue, no spurious z-scores).
    Each window is reduced on its own (a row of the gathered chunk), so the chunk size changes
    the speed, never a bit of the result: chunks of ~``_TWO_PASS_CHUNK`` values stay in the CPU
    cache through the passes (2M-value chunks ran 1.6x slower: 6 785 windows of 8 760 bars,
    the 1-year OI z-score at 1M hourly bars, 191 ms -> 116 ms).
    """
    windows = np.lib.stride_tricks.sliding_window_view(x, window)
    step = max(1, _TWO_PASS_CHUNK // window)
    with np.errstate(invalid="ignore", over="ignore"):
        for lo in range(0, len(ends), step):
            part = ends[lo:lo + step]
            win = windows[part - (window - 1)]                     # a copy: worked in place
            constant = (win == win[:, :1]).all(axis=1)
            dev = np.subtract(win, win.mean(axis=1, keepdims=True), out=win)
            dev_mean = dev.mean(axis=1)
            two_pass = np.multiply(dev, dev, out=dev).mean(axis=1) - dev_mean ** 2
            two_pass[constant] = 0.0
            var[part] = np.maximum(two_pass, 0.0)


def _rolling_moments(values, window: int, need_var: bool = True,
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
    mean[:window - 1] = np.nan
    if need_var:
        var[:window - 1] = np.nan
    ill = _moments_into(x, window, mean, var)
    if len(ill):
        _two_pass_variance(x, window, ill, var)
    return mean, var


def _like(values: np.ndarray, s: pd.Series) -> pd.Series:
    return pd.Series(values, index=s.index)
