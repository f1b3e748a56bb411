"""Premium legs: the two prices a premium compares, named by a short text.

A **leg** is a kind of market and the venues whose closes make its price:

==========================  ===============================================================
spec                        price at each base bar (USD)
==========================  ===============================================================
``"spot:basket"``           the spot basket (mean of the selected spot venues; ``"spot"``)
``"spot:coinbase"``         one spot venue's close
``"spot:coinbase+kraken"``  the equal-weight basket of the named venues
``"perp:basket"``           the perp basket (equal or OI-weighted, as ``weighting`` says;
                            ``"perp"``)
``"perp:binance"``          one perpetual's close
``"dated:deribit-2026-03-27"`` one dated future's close (venue, then its expiry date, UTC); NaN
                            at every bar opening at or after its expiry; no basket
``"dated:deribit-cm90"``    the venue's constant-maturity 90-day future price
                            (:func:`dated_closes`)
==========================  ===============================================================

Every close is already in USD: :meth:`~btcflow_nb.MarketData.from_frames` converts closes quoted
in USDT / USDC with the USDT/USD (USDC/USD) series and records it in
``meta["quote_conversion"]`` (``"spot:binance": "USDT converted to USD with the USDT/USD
series"``), so a premium between a USD venue and a USDT venue is not the stablecoin's drift.

A venue missing for up to ``max_gap`` base bars is carried with the other venues of its kind
(:func:`~btcflow_nb.indicators.carry_gaps`), exactly as the baskets are, so a leg naming one
venue gives the same price as ``flow_metrics(futures=venue)`` always did.

Leg kinds are a table, :data:`LEG_KINDS` (kind -> a function of a ``MarketData`` returning the
wide frame of that kind's USD closes, one column per instrument): a new kind plugs in with
:func:`register_leg_kind` and every premium function and control accepts it at once. A frame
may carry ``attrs["expiry"]`` (column -> expiry, UTC): such an instrument is offered only
while it has not expired at the data's last bar close, an explicit choice of an expired one is
refused naming the live ones, and its price is NaN at every bar opening at or after its expiry
(even where a short gap would otherwise be carried). The ``dated`` kind (:func:`dated_closes`)
is registered so, from ``MarketData.futures``.

The **Coinbase premium index** is the pair :data:`COINBASE_PREMIUM`: Coinbase BTC/USD spot
against Binance BTC/USDT spot, both in USD:

.. math:: \\text{premium}_\\$ = C_t - B_t, \\qquad
          \\text{premium}_\\% = \\frac{C_t - B_t}{B_t} \\times 100

with :math:`B_t` = Binance's USDT close × USDT/USD at the bar. Positive: US buyers pay up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from ._checks import choice_error
from .marketdata import MarketData

#: kind -> the wide frame of that kind's USD closes in a ``MarketData``.
#: Constant maturity (days) of the ``dated:<venue>-cm90`` leg.
CM_DAYS = 90.0


def dated_closes(md: MarketData) -> pd.DataFrame:
    """The dated futures of ``md.futures`` as a wide frame of USD closes on the bars of
    ``md.spot`` / ``md.perp`` (computed once per ``md``):

    * one column per contract named ``"<venue>-<expiry date>"`` (``"deribit-2026-03-27"``;
      ``"<venue> <symbol>"`` when one venue lists two contracts expiring the same day),
      ``attrs["expiry"]`` = column -> expiry;
    * one column per venue ``"<venue>-cm90"``: the **constant-maturity 90-day future price**
      ``F90 = S × (1 + b90 × 90 / 365)``, with ``S`` the mean spot close and ``b90`` the
      venue's 90-day constant-maturity annualised basis
      (:func:`btcflow_nb.basis.constant_maturity`: linear in days to expiry between the two
      contracts around 90 days, NaN without them) -- a futures price that never rolls, so a
      premium against it has no expiry jumps.
    """
    return md.memo(("leg_kind", "dated"), lambda: _dated_closes(md))


def _dated_closes(md: MarketData) -> pd.DataFrame:
    from .basis import annualized_basis, constant_maturity, spot_price

    fut = md.futures
    names = fut["venue"] + "-" + fut["expiry"].dt.strftime("%Y-%m-%d")
    pairs = pd.DataFrame({"name": names, "symbol": fut["symbol"]}).drop_duplicates()
    clash = set(pairs.loc[pairs["name"].duplicated(keep=False), "name"])
    if clash:
        names = names.where(~names.isin(clash), fut["venue"] + " " + fut["symbol"])
    wide = pd.DataFrame({"name": names.to_numpy(), "time": fut["time"].to_numpy(),
                         "close": fut["close"].to_numpy()}
                        ).pivot(index="time", columns="name", values="close")
    index = md.spot.index.union(md.perp.index) if len(md.spot) or len(md.perp) else wide.index
    wide = wide.reindex(index)
    wide.columns = [str(c) for c in wide.columns]
    if len(fut) and len(md.spot.columns):
        cm = constant_maturity(annualized_basis(md), CM_DAYS).reindex(index)
        spot = spot_price(md).reindex(index)
        for venue in cm.columns:
            wide[f"{venue}-cm{CM_DAYS:g}"] = spot * (1 + cm[venue] * CM_DAYS / 365.0)
    wide.index.name = "time"
    expiry = dict(zip(names, fut["expiry"]))
    wide.attrs["expiry"] = {c: expiry[c] for c in wide.columns if c in expiry}
    return wide


LEG_KINDS: dict[str, Callable[[MarketData], pd.DataFrame]] = {
    "spot": lambda md: md.spot,
    "perp": lambda md: md.perp,
    "dated": dated_closes,
}
#: Kinds without a basket (an average of contracts of different expiries means nothing).
NO_BASKET = {"dated"}
#: Kinds a spot leg may be (a futures leg may be any kind of :data:`LEG_KINDS`).
SPOT_KINDS = ("spot",)
#: (spot leg, futures leg) of the Coinbase premium index: Coinbase USD - Binance USDT (in USD).
COINBASE_PREMIUM = ("spot:coinbase", "spot:binance")
BASKET = "basket"

__all__ = ["Leg", "LEG_KINDS", "COINBASE_PREMIUM", "parse_leg", "leg_choices",
           "register_leg_kind", "leg_closes", "quote_notes", "dated_closes"]


@dataclass(frozen=True)
class Leg:
    """One side of a premium: ``kind`` (a key of :data:`LEG_KINDS`) and ``venues`` (empty: the
    basket of the selected venues of that kind)."""

    kind: str
    venues: tuple = ()

    @property
    def is_basket(self) -> bool:
        return not self.venues

    def __str__(self) -> str:
        return f"{self.kind}:{'+'.join(self.venues) if self.venues else BASKET}"

    @property
    def label(self) -> str:
        """Readable name: ``"perp basket"``, ``"coinbase spot"``, ``"okx+bybit perp"``,
        ``"deribit future 2026-03-27"``."""
        if self.kind == "dated" and not self.is_basket:     # "deribit future 2026-03-27"
            return "+".join(_dated_label(v) for v in self.venues)
        return f"{self.kind} basket" if self.is_basket else f"{'+'.join(self.venues)} {self.kind}"


def _dated_label(name: str) -> str:
    """``"deribit-2026-03-27"`` -> ``"deribit future 2026-03-27"``, ``"deribit-cm90"`` ->
    ``"deribit 90-day constant-maturity future"``."""
    cm = f"-cm{CM_DAYS:g}"
    if name.endswith(cm):
        return f"{name[:-len(cm)]} {CM_DAYS:g}-day constant-maturity future"
    venue, dash, expiry = name.partition("-")
    return f"{venue} future {expiry}" if dash else name


def register_leg_kind(kind: str, closes: Callable[[MarketData], pd.DataFrame]) -> None:
    """Add a leg kind: ``closes(md)`` returns that kind's wide USD closes (one column per
    instrument, indexed by bar open time like ``md.perp``)."""
    if not kind or not isinstance(kind, str) or ":" in kind or "+" in kind:
        raise ValueError(f"leg kind must be a name without ':' or '+'; got {kind!r}")
    LEG_KINDS[kind] = closes


def _last_close(md: MarketData, frame: pd.DataFrame):
    """The close time of the data's last bar (its open time + the resolution), or None."""
    if len(frame.index) == 0:
        return None
    from .timeframes import bar_ms
    return frame.index.max() + pd.Timedelta(milliseconds=bar_ms(md.resolution or "1D"))


def _expired(md: MarketData, frame: pd.DataFrame) -> dict:
    """column -> expiry of the instruments expired at the data's last bar close."""
    last = _last_close(md, frame)
    return {c: e for c, e in frame.attrs.get("expiry", {}).items()
            if last is not None and e <= last}


def _instruments(md: MarketData, kind: str) -> list[str]:
    frame = LEG_KINDS[kind](md)
    expired = _expired(md, frame)
    present = frame.notna().to_numpy().any(axis=0) if len(frame) else [False] * frame.shape[1]
    return [c for c, ok in zip(frame.columns, present) if ok and c not in expired]


def leg_choices(md: MarketData, kinds=None) -> list[str]:
    """Every leg spec this data supports (baskets first, then each instrument), for ``kinds``
    (default: every kind of :data:`LEG_KINDS`)."""
    out = []
    for kind in kinds or LEG_KINDS:
        names = _instruments(md, kind)
        if names:
            out += ([] if kind in NO_BASKET else [f"{kind}:{BASKET}"]) + [
                f"{kind}:{v}" for v in names]
    return out


def parse_leg(spec, md: MarketData, *, role: str = "futures_leg", kinds=None) -> Leg:
    """A :class:`Leg` from a spec (``"spot:coinbase"``, ``"perp:basket"``, ``"perp"``, a ``Leg``).

    Every venue must be a column of the data (one without closes gives a NaN premium); ``kinds`` limits the allowed kinds (a spot leg: spot).
    A bad spec raises ``ValueError`` naming ``role``, the value and the valid choices.
    """
    kinds = tuple(kinds or LEG_KINDS)
    if isinstance(spec, Leg):
        kind, venues = spec.kind, tuple(spec.venues)
    elif isinstance(spec, str) and spec.strip():
        kind, _, rest = spec.strip().partition(":")
        rest = rest.strip()
        venues = () if rest in ("", BASKET) else tuple(v.strip() for v in rest.split("+"))
    else:
        raise choice_error(role, spec, leg_choices(md, kinds),
                           " (a leg is 'kind:venue', 'kind:a+b' or 'kind:basket')")
    if kind not in kinds:
        raise ValueError(f"{role}={str(spec)!r} names no known leg kind ({kind!r}; kinds: "
                         f"{', '.join(kinds)}); valid choices: "
                         f"{', '.join(repr(c) for c in leg_choices(md, kinds))}")
    frame = LEG_KINDS[kind](md)
    available = [str(c) for c in frame.columns]  # a venue without closes: NaN
    if kind in NO_BASKET and not venues:
        raise choice_error(role, str(spec), leg_choices(md, [kind]),
                           f" ({kind} legs have no basket: name one contract)")
    expired = _expired(md, frame)
    gone = [v for v in venues if v in expired]
    if gone:
        raise ValueError(f"{role}={str(spec)!r}: {gone[0]} expired {expired[gone[0]]}, before "
                         f"the data's last bar closes {_last_close(md, frame)} (an expiry in "
                         f"the past); valid choices: "
                         f"{', '.join(repr(c) for c in leg_choices(md, [kind]))}")
    unknown = [v for v in venues if v not in available]
    if unknown or any(not v for v in venues) or len(set(venues)) != len(venues):
        raise choice_error(f"{role} venue", "+".join(unknown) or str(spec),
                           [v for v in available if v not in expired],
                           f" (in {role}={str(spec)!r}; a venue once, each in this data's "
                           f"{kind} closes)")
    return Leg(kind, venues)


def check_distinct(spot: Leg, futures: Leg, md: MarketData) -> None:
    """A premium of a leg against itself is always 0: refuse it, naming the other choices."""
    if spot.kind == futures.kind and set(spot.venues) == set(futures.venues):
        others = [c for c in leg_choices(md) if c != str(spot)]
        raise ValueError(f"futures_leg={str(futures)!r} is the spot leg itself (the premium "
                         f"would be 0 at every bar); valid choices: {', '.join(others)}")


def quote_notes(md: MarketData, legs) -> tuple[dict, list[str]]:
    """(how each named venue of ``legs`` reached USD, from ``meta["quote_conversion"]``; a note
    ``"premium_abs: ..."`` for each whose stablecoin quote could not be converted)."""
    conv = md.meta.get("quote_conversion", {})
    quotes = {f"{leg.kind}:{v}": conv.get(f"{leg.kind}:{v}") for leg in legs for v in leg.venues}
    notes = [f"premium_abs: {name} {how} -- the premium includes the stablecoin's own drift"
             for name, how in quotes.items() if how and how.startswith("raw ")]
    return quotes, notes


def leg_closes(md: MarketData, leg: Leg, index: pd.DatetimeIndex, selected=None,
               max_gap: int = 3) -> pd.DataFrame:
    """The leg's venues' USD closes on ``index`` (base bars), short gaps carried with the
    other venues of the kind (``selected`` plus the leg's own; ``None``: every venue)."""
    from .indicators import carry_gaps

    frame = LEG_KINDS[leg.kind](md)
    members = list(leg.venues) or [c for c in frame.columns
                                   if selected is None or c in set(selected)]
    carriers = [c for c in frame.columns
                if selected is None or c in set(selected) or c in members]
    wide = frame[carriers]
    if not wide.index.equals(index):
        wide = wide.reindex(index)
    out = carry_gaps(wide, max_gap)[members]
    for name, expiry in frame.attrs.get("expiry", {}).items():   # no price once expired
        if name in members:
            out.loc[out.index >= expiry, name] = float("nan")
    return out
