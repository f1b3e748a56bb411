"""Pure functions turning raw ccxt rows into tidy frames (no network, no state).

Frame shapes (all times are tz-aware UTC ``datetime64[ms]``):

* OHLCV:   ``time, open, high, low, close, volume``          (bar open time; quote currency)
* funding: ``time, rate, interval_hours``                     (settlement time; fraction/interval)
* OI raw:  ``time, oi_base, oi_value, value_currency, kind``  (what the venue said; see below)

OI is stored as the venue reported it -- ``oi_base`` in BTC (contracts x contract size for a
linear contract), ``oi_value`` in ``value_currency`` (USD, USDT, ...) or NaN -- and converted to
``oi_btc, oi_usd`` only when a MarketData is assembled (`oi_to_btc_usd`), because the conversion
needs prices and the fx series, which may arrive in a later fetch.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._frames import distinct

OHLCV_COLUMNS = ("time", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("time", "rate", "interval_hours")
OI_RAW_COLUMNS = ("time", "oi_base", "oi_value", "value_currency", "kind")

#: Settlement intervals (hours) recognised when deriving an interval from event spacing.
STANDARD_INTERVALS = (1.0, 2.0, 4.0, 8.0)


def _times(ms) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(ms, dtype="int64"), unit="ms",
                                           utc=True)).as_unit("ms")


def settlement_times(times) -> pd.DatetimeIndex:
    """Funding settlement times (epoch ms or datetimes) rounded to the nearest second, UTC, ms
    unit: the same event from the API, an archive or a file gets the same time (a settlement
    is on the hour; its stamp lags by milliseconds, differently per source)."""
    t = np.asarray(times)
    idx = _times(t) if np.issubdtype(t.dtype, np.integer) else \
        pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ms")
    return idx.round("s")


def empty_frame(columns) -> pd.DataFrame:
    data = {}
    for c in columns:
        if c == "time":
            data[c] = pd.Series(pd.DatetimeIndex([], tz="UTC").as_unit("ms"))
        elif c in ("value_currency", "kind"):
            data[c] = pd.Series([], dtype="object")
        else:
            data[c] = pd.Series([], dtype="float64")
    return pd.DataFrame(data)


def dedupe_by_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by time and keep the last row for each time (later pages win: the still-open bar
    fetched again replaces its earlier version)."""
    if len(frame) == 0:
        return frame.reset_index(drop=True)
    out = frame.drop_duplicates("time", keep="last").sort_values("time", kind="stable")
    return out.reset_index(drop=True)


def ohlcv_frame(rows) -> pd.DataFrame:
    """ccxt OHLCV rows ``[ms, open, high, low, close, volume]`` -> OHLCV frame.

    Rows without a timestamp or close are dropped; duplicates collapse to the last one.
    """
    rows = [r for r in rows if r and r[0] is not None and r[4] is not None]
    if not rows:
        return empty_frame(OHLCV_COLUMNS)
    arr = np.array([[np.nan if v is None else float(v) for v in r[1:6]] for r in rows])
    frame = pd.DataFrame({"time": _times([int(r[0]) for r in rows]),
                          "open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2],
                          "close": arr[:, 3], "volume": arr[:, 4]})
    return dedupe_by_time(frame)


def funding_frame(rows, venue, *, market_interval_hours=None) -> pd.DataFrame:
    """ccxt funding-rate-history rows -> ``time, rate, interval_hours``.

    The rate is normalised to the fraction paid for the row's interval:

    * ``per_interval`` / ``relative_per_interval``: ccxt's ``fundingRate`` as is;
    * ``8h_equivalent`` (Deribit): hourly rows carrying an 8-hour-scaled rate, so
      ``rate = fundingRate / 8`` for the one-hour interval.

    interval_hours: ``fixed`` -> the venue's constant; ``market`` -> `market_interval_hours`
    (read from the market info by the caller); ``spacing`` -> NaN here, filled by
    `derive_intervals` once the whole series (including cached events) is known.
    """
    good = [r for r in rows if r.get("timestamp") is not None and r.get("fundingRate") is not None]
    if not good:
        return empty_frame(FUNDING_COLUMNS)
    rate = np.array([float(r["fundingRate"]) for r in good])
    if venue.funding_basis == "8h_equivalent":
        rate = rate / 8.0
    if venue.funding_interval_source == "fixed":
        hours = float(venue.funding_interval_hours)
    elif venue.funding_interval_source == "market":
        hours = np.nan if market_interval_hours is None else float(market_interval_hours)
    else:
        hours = np.nan
    # one settlement, one time: venues stamp it a few ms after the instant (Binance's
    # fundingTime 1643932800018 = 00:00:00.018, ccxt PR #12232; its archives' calc_time need
    # not carry the same ms), so times are rounded to the second (`settlement_times`)
    frame = pd.DataFrame({"time": settlement_times([int(r["timestamp"]) for r in good]),
                          "rate": rate,
                          "interval_hours": np.full(len(good), hours, dtype="float64")})
    return dedupe_by_time(frame)


def derive_intervals(times: pd.Series, known: pd.Series) -> pd.Series:
    """Fill missing settlement intervals from the spacing of consecutive events.

    interval_i = hours between event i-1 and event i when that is a standard interval
    (1, 2, 4 or 8 h); a longer spacing is a gap in the data (a missing event), so the event
    inherits the previous interval; the first event takes the spacing to the next one.
    Rows where `known` is already set are kept.
    """
    t = pd.DatetimeIndex(times).as_unit("ms").asi8.astype("float64")
    out = np.asarray(known, dtype="float64").copy()
    if len(t) == 0 or not np.isnan(out).any():   # nothing to derive
        return pd.Series(out, index=getattr(known, "index", None))
    spacing = np.diff(t) / 3_600_000.0
    derived = np.full(len(t), np.nan)
    last = np.nan
    for i in range(1, len(t)):
        s = spacing[i - 1]
        if s in STANDARD_INTERVALS:
            last = s
        derived[i] = last
    if len(t) > 1:
        first_valid = next((s for s in spacing if s in STANDARD_INTERVALS), np.nan)
        derived[0] = first_valid
        # events before the first standard spacing inherit it too
        derived = pd.Series(derived).bfill().to_numpy()
    fill = np.isnan(out)
    out[fill] = derived[fill]
    return pd.Series(out, index=getattr(known, "index", None))


def oi_frame(rows, venue, contract_size, *, kind, amount_unit=None) -> pd.DataFrame:
    """ccxt open-interest structures -> raw OI frame (see module docstring).

    oi_base: ``openInterestAmount`` x contract size when the venue counts contracts of a
    linear contract (BTC each), or the amount itself when it is already in BTC; for an inverse
    contract the BTC amount the venue reports (the field ``venue.oi_btc_field``), else NaN
    (its contracts are worth USD, so BTC = USD / price, computed at assembly).
    oi_value: ``openInterestValue`` in the venue's quote (``oi_value="quote"``) or USD
    (``"usd"``), or -- for an inverse contract -- contracts x contract size in USD when the
    venue reports no USD value (`_inverse_oi`).
    kind: "history" or "snapshot".  Rows without a timestamp are dropped (the caller stamps
    snapshots that lack one).  amount_unit overrides ``venue.oi_amount`` ("contracts"/"base").
    """
    amount_unit = amount_unit or venue.oi_amount
    base, value, times = [], [], []
    size = 1.0 if contract_size is None else float(contract_size)
    for r in rows:
        ts = r.get("timestamp")
        if ts is None:
            continue
        amount = r.get("openInterestAmount")
        val = r.get("openInterestValue")
        if venue.contract == "inverse":
            b, v = _inverse_oi(r, venue, amount, val, amount_unit, size)
        else:
            if amount is None:
                b = np.nan
            elif amount_unit == "contracts":
                b = float(amount) * size
            else:
                b = float(amount)
            v = np.nan if (val is None or venue.oi_value is None) else float(val)
        if np.isnan(b) and np.isnan(v):
            continue
        times.append(int(ts))
        base.append(b)
        value.append(v)
    if not times:
        return empty_frame(OI_RAW_COLUMNS)
    currency = "USD" if (venue.oi_value == "usd" or venue.contract == "inverse") else venue.quote
    frame = pd.DataFrame({"time": _times(times), "oi_base": np.array(base, dtype="float64"),
                          "oi_value": np.array(value, dtype="float64"),
                          "value_currency": [currency] * len(times), "kind": [kind] * len(times)})
    return dedupe_by_time(frame)


def _inverse_oi(r, venue, amount, val, amount_unit, size):
    """(BTC, USD) of one inverse (coin-margined) OI structure.

    USD: the venue's USD value (``oi_value="usd"``), else contracts x contract size (USD per
    contract: the inverse contract's definition).  BTC: the field named ``oi_btc_field`` when
    the venue reports it, else NaN (USD / price at assembly, `oi_to_btc_usd`)."""
    if val is not None and venue.oi_value == "usd":
        usd = float(val)
    elif amount is not None and amount_unit == "contracts":
        usd = float(amount) * size
    else:
        usd = np.nan
    btc = r.get(venue.oi_btc_field) if venue.oi_btc_field else None
    return (np.nan if btc is None else float(btc)), usd


def oi_from_info_rows(rows, index: int) -> pd.DataFrame:
    """OI history read from the ``info`` arrays of funding rows (Bitfinex's derivatives status
    history carries both: column 0 is the time, column `index` the OI in BTC)."""
    times, base = [], []
    for r in rows:
        info = r.get("info")
        if isinstance(info, (list, tuple)) and len(info) > index and info[0] is not None \
                and info[index] is not None:
            times.append(int(info[0]))
            base.append(float(info[index]))
    if not times:
        return empty_frame(OI_RAW_COLUMNS)
    frame = pd.DataFrame({"time": _times(times), "oi_base": np.array(base),
                          "oi_value": np.full(len(times), np.nan),
                          "value_currency": ["USD"] * len(times), "kind": ["history"] * len(times)})
    return dedupe_by_time(frame)


def asof(series: pd.Series, times) -> np.ndarray:
    """Value of `series` (time-indexed, sorted) at or before each of `times` (NaN before it;
    missing values of `series` are skipped)."""
    return _asof_ms(series, pd.DatetimeIndex(times).as_unit("ms").asi8)


def _asof_ms(series: pd.Series, t_ms: np.ndarray) -> np.ndarray:
    """`asof` at times given as epoch ms."""
    if series is None or len(series) == 0:
        return np.full(len(t_ms), np.nan)
    vals = series.to_numpy(dtype="float64")
    idx = pd.DatetimeIndex(series.index).as_unit("ms").asi8
    known = ~np.isnan(vals)
    if not known.all():
        vals, idx = vals[known], idx[known]
        if not len(vals):
            return np.full(len(t_ms), np.nan)
    pos = np.searchsorted(idx, t_ms, side="right") - 1
    return np.where(pos >= 0, vals[np.clip(pos, 0, None)], np.nan)


def oi_to_btc_usd(raw: pd.DataFrame, close_quote: pd.Series, quote: str, fx: dict) -> pd.DataFrame:
    """Raw OI -> ``time, oi_btc, oi_usd``.

    usd_price(t) = close(t) x fx[quote](t): the venue's own last close known at t (the series
    is indexed by bar *close* time, so a sample at a bar's open uses the previous bar), in its
    quote currency, times the USD price of that currency known at t (same convention).
    oi_btc = oi_base, or oi_usd / usd_price when only a value is known (inverse contracts).
    oi_usd = oi_value x fx[value_currency](t) when the venue reports a value, else
    oi_btc x usd_price.
    fx: {"USDT": Series, "USDC": Series} of USD per unit; USD is 1.  A missing fx series leaves
    the raw quote as if it were USD (MarketData's convention, recorded in meta).
    """
    if len(raw) == 0:
        return pd.DataFrame({"time": raw["time"], "oi_btc": pd.Series(dtype="float64"),
                             "oi_usd": pd.Series(dtype="float64")})
    times = raw["time"]
    t_ms = pd.DatetimeIndex(times).as_unit("ms").asi8
    rates = {}

    def fx_at(currency):   # USD per unit of `currency` at each sample (each series read once)
        if currency not in rates:
            series = fx.get(currency)
            rates[currency] = (np.ones(len(times)) if currency == "USD" or series is None
                               or len(series) == 0 else _asof_ms(series, t_ms))
        return rates[currency]

    usd_price = _asof_ms(close_quote, t_ms) * fx_at(quote)
    value = raw["oi_value"].to_numpy(dtype="float64")
    value_usd = np.full(len(raw), np.nan)
    labels = distinct(raw["value_currency"])
    currencies = raw["value_currency"].to_numpy(dtype=object) if len(labels) > 1 else None
    for cur in labels:
        if not isinstance(cur, str):   # a missing currency: no value in USD
            continue
        if len(labels) == 1:           # one currency on every row
            value_usd = value * fx_at(cur)
            break
        m = currencies == cur
        value_usd[m] = value[m] * fx_at(cur)[m]
    base = raw["oi_base"].to_numpy(dtype="float64")
    oi_btc = np.where(np.isnan(base), value_usd / usd_price, base)
    oi_usd = np.where(np.isnan(value_usd), oi_btc * usd_price, value_usd)
    # ``times.array``: the tz-aware DatetimeArray as is; ``to_numpy()`` would box every time
    # into a Timestamp object and re-parse them (most of a cached load's time)
    return pd.DataFrame({"time": times.array, "oi_btc": oi_btc, "oi_usd": oi_usd})


def oi_from_ticker(field: str, ticker) -> dict | None:
    """A ccxt ticker's ``info[field]`` (open interest in base currency, e.g. Kraken Futures'
    ``openInterest``) as a ccxt open-interest structure stamped with the ticker's time, or None
    when the ticker lacks it."""
    raw = ((ticker or {}).get("info") or {}).get(field)
    if raw is None:
        return None
    return {"timestamp": ticker.get("timestamp"), "openInterestAmount": float(raw),
            "openInterestValue": None}

