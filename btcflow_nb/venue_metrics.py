r"""Metrics per venue and per venue pair, beside :func:`~btcflow_nb.flow_metrics`' aggregates.

* :func:`premium_between` — the premium between any two legs (:mod:`btcflow_nb.legs`), in USD
  or % of the futures leg; :func:`coinbase_premium` is the Coinbase premium index.
* :func:`funding_spend` — what longs pay shorts, in USD per day, per venue and in total.
* :func:`venue_open_interest` — each venue's OI at the bar close (BTC or USD), or its change
  over the bar.

The Coinbase premium index
--------------------------
Coinbase BTC/USD against Binance BTC/USDT, both in USD (Binance's close × the USDT/USD close of
the same bar, converted when the data was built, see ``md.meta["quote_conversion"]``):

.. math:: P^{\$}_t = C_t - B_t, \qquad P^{\%}_t = \frac{C_t - B_t}{B_t} \times 100

At a bar where Coinbase closes at 100 050 USD, Binance at 99 980 USDT and USDT at 1.0003 USD:
``B = 99 980 × 1.0003 = 100 009.994``, ``P$ = 40.006`` USD, ``P% = 0.0400 %``. Positive: US
buyers pay up (a premium watched as a sign of US spot demand).

Funding spend
-------------
.. math:: \mathrm{spend}_{v,t} = r_{v,t} \times 24 \times OI^{\$}_{v,t} \quad [\text{USD/day}]

``r`` is the venue's funding TWAP over the bar as a fraction per hour (each settlement
``rate / interval_hours``, so 8 h, 4 h and 1 h venues share one scale), ``OI$`` its open
interest in USD at the bar close (the last sample in the bar). Positive: longs pay shorts. The
``total`` is the sum over venues with both at the bar (``venues`` counts them); a venue with
funding but no OI sample is left out of it, never counted as 0. On a 1W bar the value is still
per day (the bar's mean rate): multiply by 7 for the week.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import check_choice, check_venues
from ._metrics_base import bar_index, base_prices, rebar_prices
from .indicators import MAX_GAP, funding_twap, oi_at_bar_close
from .indicators import funding_spend as _spend
from .legs import COINBASE_PREMIUM, SPOT_KINDS, check_distinct, parse_leg, quote_notes
from .marketdata import MarketData
from .timeframes import check_not_finer, next_bar_open

PREMIUM_UNITS = ("usd", "pct")
OI_UNITS = ("btc", "usd")

__all__ = ["premium_between", "coinbase_premium", "funding_spend", "venue_open_interest"]


def _check_md(md) -> None:
    if not isinstance(md, MarketData):
        raise ValueError(f"md must be a MarketData; got {type(md).__name__}")


def premium_between(md: MarketData, spot_leg="spot:basket", futures_leg="perp:basket", *,
                    timeframe: str = "1D", unit: str = "usd", weighting: str = "equal",
                    max_gap: int = MAX_GAP) -> pd.DataFrame:
    """The premium of ``spot_leg`` over ``futures_leg``, one row per bar.

    Legs are specs of :mod:`btcflow_nb.legs` (``"spot:coinbase"``, ``"spot:basket"``,
    ``"perp:binance"``, ``"perp:basket"``, ``"spot:binance"``, ...); a basket is every venue of
    its kind in ``md``. Both legs are taken at the bar's last base bar where each has a close
    (baskets first, bars second, as in :func:`~btcflow_nb.flow_metrics`).

    Returns columns ``spot``, ``futures`` [USD], ``premium`` (in ``unit``), ``premium_abs``
    ``= spot - futures`` [USD], ``premium_pct`` ``= (spot - futures) / futures × 100`` [%],
    ``spot_venues`` (venues behind the spot leg). ``attrs``: ``spot_leg``, ``futures_leg``,
    ``unit``, ``timeframe``, ``quote_conversion`` (how each named venue reached USD),
    ``notes`` (a venue whose stablecoin quote could not be converted: no USDT/USD series).

    Swapping the legs negates ``premium_abs``; ``premium_pct`` is relative to the futures leg.
    """
    _check_md(md)
    tf = check_not_finer(timeframe, md.resolution)
    check_choice("unit", unit, PREMIUM_UNITS)
    check_choice("weighting", weighting, ("equal", "oi"))
    s = parse_leg(spot_leg, md, role="spot_leg", kinds=SPOT_KINDS)
    f = parse_leg(futures_leg, md, role="futures_leg")
    check_distinct(s, f, md)
    sv, pv = tuple(md.spot.columns), tuple(md.perp.columns)
    rows = rebar_prices(base_prices(md, sv, pv, (s, f), weighting, int(max_gap)), tf)
    out = pd.DataFrame({
        "spot": rows["spot"], "futures": rows["futures"],
        "premium": rows["premium_abs" if unit == "usd" else "premium_pct"],
        "premium_abs": rows["premium_abs"], "premium_pct": rows["premium_pct"],
        "spot_venues": rows["spot_venues"],
    }, index=pd.DatetimeIndex(rows.index, name="time"))
    quotes, notes = quote_notes(md, (s, f))
    out.attrs.update(spot_leg=str(s), futures_leg=str(f), unit=unit, timeframe=tf,
                     quote_conversion=quotes, notes=notes)
    return out


def coinbase_premium(md: MarketData, timeframe: str = "1D", *, unit: str = "usd",
                     max_gap: int = MAX_GAP) -> pd.DataFrame:
    """The Coinbase premium index: Coinbase BTC/USD − Binance BTC/USDT (in USD through the
    USDT/USD series), in USD or % of the Binance price (see the module docstring)."""
    return premium_between(md, *COINBASE_PREMIUM, timeframe=timeframe, unit=unit,
                           max_gap=max_gap)


def _oi(md: MarketData, tf: str, unit: str, perp_venues) -> tuple[MarketData, pd.DataFrame]:
    check_choice("unit", unit, OI_UNITS)
    pv = check_venues("perp", perp_venues, sorted(set(md.perp.columns) | set(md.venues("funding"))
                                                 | set(md.venues("open_interest"))))
    sel = md.select(perp_venues=pv) if perp_venues is not None else md
    bars = bar_index(sel, tf)
    return sel, oi_at_bar_close(sel.open_interest, bars, tf, unit)


def venue_open_interest(md: MarketData, timeframe: str = "1D", *, unit: str = "btc",
                        perp_venues=None, change: bool = False) -> pd.DataFrame:
    """Each venue's open interest at the bar close (the last sample in the bar), one column per
    venue, in BTC (``unit="btc"``) or USD; with ``change=True`` its change over the bar:
    ``OI_{v,t} - OI_{v,t-1}`` (NaN where either bar has no sample: a venue joining is no
    change). The columns sum to the plain (not chain-linked) total; ``flow_metrics``'
    ``oi_total`` is the chain-linked aggregate anchored to that sum at the last bar."""
    _check_md(md)
    if not isinstance(change, (bool, np.bool_)):
        raise ValueError(f"change must be True or False; got {change!r}")
    tf = check_not_finer(timeframe, md.resolution)
    _, oi = _oi(md, tf, unit, perp_venues)
    out = oi.diff() if change else oi
    out.attrs.update(unit=unit.upper(), timeframe=tf, change=bool(change))
    return out


def funding_spend(md: MarketData, timeframe: str = "1D", *, perp_venues=None) -> pd.DataFrame:
    """USD per day that longs pay shorts, per venue, plus ``total`` and ``venues`` (how many
    venues the total sums). See the module docstring for the formula and conventions."""
    _check_md(md)
    tf = check_not_finer(timeframe, md.resolution)
    sel, oi_usd = _oi(md, tf, "usd", perp_venues)
    bars = oi_usd.index
    twap = funding_twap(sel.funding, bars, next_bar_open(bars, tf))
    spend = _spend(twap, oi_usd)
    out = spend.copy()
    out["total"] = spend.sum(axis=1, min_count=1)
    out["venues"] = spend.notna().sum(axis=1).astype("int64")
    out.attrs.update(unit="USD per day", timeframe=tf,
                     sign="positive: longs pay shorts; negative: shorts pay longs")
    return out
