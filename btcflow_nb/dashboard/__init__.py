"""Widget dashboards for JupyterLab (ipywidgets + bqplot).

* :class:`FlowDashboard` — the BTC Flow Dashboard: price with signal markers, spot premium %,
  aggregated OI z-score and composite funding on one shared, pan/zoomable date axis, with every
  ``flow_metrics`` parameter as a control, an info panel and an alerts table; live mode
  (``live=True``, ``start_live``, the header's toggle: :mod:`btcflow_nb.dashboard.live`)
  polls the venues and moves the open bar.
* :class:`PremiumIndexPanel` — the spot vs futures premium index with Bollinger bands and its
  two alerts.
* :class:`OpenInterestPanel` — each venue's open interest (stacked, BTC or USD) and its change
  over the bar, beside the aggregate OI z-score.
* :class:`FundingSpendPanel` — what longs pay shorts in USD per day, stacked by venue, and the
  total.
* :class:`ZScoreExplorer` — a small teaching widget: how a z-score reacts to its lookback.
* :class:`CoverageChart` — which venue has what, from when to when (``md.coverage()`` drawn).
* :class:`TermStructurePanel` — dated futures: annualised basis by expiry now and at a date,
  and the constant-maturity (90-day) basis series (:mod:`btcflow_nb.basis`).
* :class:`SignalStudyPanel` — does a signal work? Forward spot returns after its onsets, with
  bootstrap bands, against all bars (:mod:`btcflow_nb.study`).

>>> import btcflow_nb as bf
>>> from btcflow_nb.dashboard import FlowDashboard
>>> FlowDashboard(bf.load_demo())  # doctest: +SKIP
"""
from .coverage import CoverageChart
from .flow import FlowDashboard
from .funding_spend import FundingSpendPanel
from .open_interest import OpenInterestPanel
from .premium import PremiumIndexPanel
from .study import SignalStudyPanel
from .teach import ZScoreExplorer
from .term_structure import TermStructurePanel

__all__ = ["FlowDashboard", "PremiumIndexPanel", "ZScoreExplorer", "CoverageChart",
           "SignalStudyPanel", "OpenInterestPanel", "FundingSpendPanel", "TermStructurePanel"]
