"""The bundled synthetic demo data set (works with no network and no cache)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import pandas as pd

from ..marketdata import MarketData

SYNTHETIC_BADGE = "SYNTHETIC DEMO DATA — not market data"

__all__ = ["load_demo", "SYNTHETIC_BADGE"]


@lru_cache(maxsize=1)
def _frames() -> tuple[dict, dict]:
    root = resources.files("btcflow_nb") / "data"
    frames = {}
    for name in ("spot", "perp", "funding", "open_interest", "fx"):
        with resources.as_file(root / f"demo_{name}.parquet") as path:
            frames[name] = pd.read_parquet(path)
    meta = json.loads((root / "demo_meta.json").read_text())
    return frames, meta


def load_demo() -> MarketData:
    """Synthetic, deterministic multi-venue demo data: daily bars 2018-01-01 .. 2025-12-31.

    Four spot venues (one quoted in USDT), six perpetual venues (USDT-, USDC- and
    coin-margined), funding at native 8 h / 4 h / 1 h intervals, OI histories that start years
    late on some venues, gaps, and USDT/USD and USDC/USD series used to convert stablecoin quotes
    to USD. Regimes are built so that every signal fires at least once with default settings.

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
        meta={
            "source": "demo",
            "synthetic": True,
            "fetched_at": None,
            "notes": [SYNTHETIC_BADGE, meta["description"]],
            "badge": SYNTHETIC_BADGE,
        },
    )
