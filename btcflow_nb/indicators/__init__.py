"""The indicator engine: exact definitions, one function each, one module per family.

==============================  ==================================================================
module                          what it holds
==============================  ==================================================================
:mod:`.rolling`                 ``sma``, ``stdev`` (population), ``zscore`` (and
                                ``zscore_window``: z with its window's mean and std), ``bollinger``,
                                ``crossover``, ``crossunder``: rolling windows of ``window`` bars
                                and Pine's cross events (the conventions: NaN rules, population
                                deviation)
:mod:`.premium`                 ``basket`` (mean close across venues), ``carry_gaps`` (a
                                venue's short gap carried with the others), ``basket_count``,
                                ``premium_abs`` (USD), ``premium_pct`` (% of the perp basket)
:mod:`.funding`                 ``annualize_funding``, ``funding_twap`` (per-hour rate, time
                                weighted over each bar from the settlement events),
                                ``composite_funding``, ``funding_spend`` (USD longs pay
                                shorts per day), ``HOURS_PER_YEAR``
:mod:`.open_interest`           ``oi_at_bar_close`` (last valid sample per bar and venue),
                                ``aggregate_oi`` (chain-linked across venues)
:mod:`.decimate`                ``minmax_indices``: the points a chart ``W`` pixels wide needs
                                (min and max per pixel column of the visible range)
:mod:`._kernel`                 internal: the rolling mean/variance kernel the rolling family
                                runs on (O(n), ~1e-12 relative), and the Series helpers
==============================  ==================================================================

Every public name is importable from here: ``btcflow_nb.indicators.zscore`` is
``btcflow_nb.indicators.rolling.zscore``. Series in, Series out; the index is preserved.

References: TA-Lib (``SMA``, ``STDDEV``, ``BBANDS``); Pine Script v5 reference (``ta.sma``,
``ta.stdev``, ``ta.bb``, ``ta.crossover``, ``ta.crossunder``).
"""
from __future__ import annotations

from .decimate import minmax_indices
from .funding import (HOURS_PER_YEAR, annualize_funding, composite_funding, funding_spend,
                      funding_twap)
from .open_interest import aggregate_oi, oi_at_bar_close
from .premium import MAX_GAP, basket, basket_count, carry_gaps, premium_abs, premium_pct
from .rolling import bollinger, crossover, crossunder, sma, stdev, zscore, zscore_window

__all__ = [
    "minmax_indices", "sma", "stdev", "zscore", "bollinger", "crossover", "crossunder",
    "zscore_window", "premium_abs", "premium_pct", "basket", "basket_count", "carry_gaps",
    "annualize_funding", "funding_twap",
    "composite_funding", "funding_spend", "oi_at_bar_close", "aggregate_oi",
]
