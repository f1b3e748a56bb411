"""The bundled synthetic demo data set (works with no network and no cache)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import pandas as pd

from ..marketdata import MarketData

SYNTHETIC_BADGE = "SYNTHETIC DEMO DATA — not market data"

__all__ = ["load_demo", "demo_futures", "SYNTHETIC_BADGE"]

#: demo dated futures: venue -> (nearest quarterlies listed, annual basis offset, first bar)
_DEMO_DATED = {"deribit": (3, 0.00, "2018-01-01"), "binance_coinm": (2, 0.01, "2020-08-10")}


@lru_cache(maxsize=1)
def _frames() -> tuple[dict, dict]:
    root = resources.files("btcflow_nb") / "data"
    frames = {}
    for name in ("spot", "perp", "funding", "open_interest", "fx"):
        with resources.as_file(root / f"demo_{name}.parquet") as path:
            frames[name] = pd.read_parquet(path)
    meta = json.loads((root / "demo_meta.json").read_text())
    usd = [v for v, q in meta["spot_quotes"].items() if q == "USD"]
    frames["futures"] = demo_futures(frames["spot"][usd].mean(axis=1))
    return frames, meta


def load_demo() -> MarketData:
    """Synthetic, deterministic multi-venue demo data: daily bars 2018-01-01 .. 2025-12-31.

    Four spot venues (one quoted in USDT), six perpetual venues (USDT-, USDC- and
    coin-margined), funding at native 8 h / 4 h / 1 h intervals, OI histories that start years
    late on some venues, gaps, and USDT/USD and USDC/USD series used to convert stablecoin quotes
    to USD. Regimes are built so that every signal fires at least once with default settings.
    Dated futures (`demo_futures`): quarterlies at two venues, computed at load time.

    **Synthetic**: ``meta["synthetic"]`` is True and every dashboard shows a badge. Regenerate
    with ``python scripts/make_demo_data.py``.

    >>> md = load_demo()
    >>> md.meta["source"], md.meta["synthetic"]
    ('demo', True)
    """
    frames, meta = _frames()
    return MarketData.from_frames(
        spot=frames["spot"], perp=frames["perp"], funding=frames["funding"],
        open_interest=frames["open_interest"], fx=frames["fx"],
        spot_quotes=meta["spot_quotes"], perp_quotes=meta["perp_quotes"],
        futures=frames["futures"],
        meta={
            "source": "demo",
            "synthetic": True,
            "fetched_at": None,
            "notes": [SYNTHETIC_BADGE, meta["description"]],
            "badge": SYNTHETIC_BADGE,
        },
    )


def demo_futures(spot: pd.Series) -> pd.DataFrame:
    """Synthetic dated futures on the demo's spot ``S`` (mean of its USD spot venues): at each
    daily bar the nearest quarterlies (08:00 UTC on the last Friday of Mar/Jun/Sep/Dec) of
    `_DEMO_DATED`, priced ``F = S x (1 + r_t x d / 365)``, ``d`` the days from the bar's close to
    expiry and ``r_t = 6 % + 5 % sin(2 pi t / 400 days)`` + the venue's offset -- a basis that
    swings between backwardation-free lows and hot contango and decays to 0 at expiry.
    Rounded to 0.1 USD; a long frame for `MarketData.from_frames(futures=...)`."""
    import numpy as np

    from .dated import quarterly_expiry

    spot = spot.dropna()
    t = pd.DatetimeIndex(spot.index).as_unit("ms").asi8
    days_since = (t - t[0]) / 86_400_000
    frames = []
    for venue, (ranks, offset, first) in _DEMO_DATED.items():
        keep = spot.index >= pd.Timestamp(first, tz="UTC")
        rate = 0.06 + 0.05 * np.sin(2 * np.pi * days_since[keep] / 400) + offset
        for rank in range(ranks):
            expiry = quarterly_expiry(t[keep], rank)
            d = (expiry - (t[keep] + 86_400_000)) / 86_400_000
            close = np.round(spot.to_numpy()[keep] * (1 + rate * d / 365), 1)
            when = pd.to_datetime(expiry, unit="ms", utc=True)
            frames.append(pd.DataFrame({
                "venue": venue, "symbol": _symbols(expiry),
                "expiry": when, "time": spot.index[keep], "close": close}))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["venue", "symbol", "time"], kind="stable").reset_index(drop=True)


def _symbols(expiry_ms):
    """ccxt's symbol of each expiry (BTC/USD:BTC-<YYMMDD>), formatted once per contract."""
    import numpy as np

    unique, inverse = np.unique(expiry_ms, return_inverse=True)
    names = np.array([f"BTC/USD:BTC-{pd.Timestamp(int(e), unit='ms'):%y%m%d}" for e in unique],
                     dtype=object)
    return names[inverse]
