#!/usr/bin/env python3
"""Regenerate btcflow-nb's bundled synthetic demo data set (``btcflow_nb/data/demo_*.parquet``).

The data are SYNTHETIC: a deterministic simulation shaped like the real thing, not market data.

- daily bars 2018-01-01 .. 2025-12-31 (bar open times, UTC);
- 4 spot venues (coinbase, kraken, bitstamp in USD; binance in USDT) and 6 perpetual venues
  (deribit inverse USD; binance, bybit, okx, htx in USDT; hyperliquid in USDC);
- funding events at native intervals: 8 h (binance, bybit, okx, deribit), 4 h (htx),
  1 h (hyperliquid);
- OI history that starts years after the venue's prices for several venues (binance, okx, htx);
- gaps (a kraken outage, missing bitstamp days, an OKX OI outage, missing bybit funding);
- USDT/USD and USDC/USD series with depeg episodes (2018-10 USDT, 2023-03 USDC);
- regimes (euphoric tops with crowded leverage, capitulation bottoms, spot-led recoveries) in
  which every signal of the engine fires at least once with default settings.

A latent "leverage heat" series drives funding, OI and the spot/perp premium together, which is
what makes the indicators meaningful on this data.

Usage: ``python scripts/make_demo_data.py [--out DIR] [--check]``. ``--check`` regenerates in
memory and exits non-zero if the shipped files differ.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20180101
START, END = "2018-01-01", "2025-12-31"
OUT = Path(__file__).resolve().parents[1] / "btcflow_nb" / "data"

# (date, price) anchors of a BTC-like path; log-price is interpolated between them.
ANCHORS = [
    ("2018-01-01", 13500), ("2018-02-06", 6900), ("2018-03-05", 11500), ("2018-06-28", 5900),
    ("2018-11-10", 6400), ("2018-12-15", 3250), ("2019-04-01", 4100), ("2019-06-26", 12900),
    ("2019-12-18", 6600), ("2020-02-13", 10300), ("2020-03-13", 4900), ("2020-07-20", 9200),
    ("2020-12-31", 29000), ("2021-04-14", 63500), ("2021-07-20", 29800), ("2021-11-10", 68000),
    ("2022-06-18", 18900), ("2022-11-21", 15800), ("2023-04-14", 30400), ("2023-09-11", 25100),
    ("2024-03-14", 73000), ("2024-08-05", 54000), ("2024-12-17", 106000), ("2025-04-08", 76500),
    ("2025-10-06", 124000), ("2025-12-31", 88000),
]
# Leverage-heat episodes: (peak date, width in days, heat). Positive: crowded longs near a top;
# negative: a flush / capitulation.
HEAT = [
    ("2018-01-05", 12, 2.6), ("2018-02-06", 6, -2.4), ("2018-11-20", 14, -1.6),
    ("2018-12-15", 8, -2.8), ("2019-06-25", 10, 2.4), ("2020-03-13", 5, -3.4),
    ("2021-01-08", 12, 2.2), ("2021-04-13", 14, 3.0), ("2021-05-19", 5, -3.0),
    ("2021-11-09", 12, 2.4), ("2022-06-18", 6, -3.0), ("2022-11-10", 6, -2.6),
    ("2024-03-13", 14, 2.8), ("2024-08-05", 4, -2.6), ("2024-12-16", 10, 2.4),
    ("2025-04-07", 5, -2.4), ("2025-10-05", 10, 2.6), ("2025-10-11", 3, -3.2),
]
SPOT = {  # venue: (quote, first day, bias, noise)
    "coinbase": ("USD", "2018-01-01", 0.0002, 0.0004),
    "kraken": ("USD", "2018-01-01", -0.0001, 0.0006),
    "bitstamp": ("USD", "2018-01-01", 0.0000, 0.0005),
    "binance": ("USDT", "2018-01-01", 0.0000, 0.0003),
}
PERP = {  # venue: (quote, first price day, first OI day, funding interval h, funding first day)
    "deribit": ("USD", "2018-01-01", "2018-01-01", 8, "2018-01-01"),
    "bybit": ("USDT", "2018-01-01", "2018-01-01", 8, "2018-01-01"),
    "binance": ("USDT", "2019-09-10", "2021-01-01", 8, "2019-09-10"),
    "okx": ("USDT", "2020-01-01", "2022-06-01", 8, "2020-01-01"),
    "htx": ("USDT", "2020-06-01", "2023-01-01", 4, "2020-06-01"),
    "hyperliquid": ("USDC", "2023-06-01", "2023-06-01", 1, "2023-06-01"),
}
OI_SHARE = {"deribit": 0.8, "bybit": 1.0, "binance": 2.2, "okx": 1.1, "htx": 0.5, "hyperliquid": 0.9}
GAPS = {  # (field, venue): [(first, last), ...] inclusive days with no data
    ("spot", "kraken"): [("2019-03-01", "2019-03-20")],
    ("spot", "bitstamp"): [("2020-05-02", "2020-05-04"), ("2023-08-14", "2023-08-14")],
    ("oi", "okx"): [("2022-11-10", "2022-11-25")],
    ("funding", "bybit"): [("2021-08-01", "2021-08-03")],
}


def _days() -> pd.DatetimeIndex:
    return pd.date_range(START, END, freq="D", tz="UTC", name="time", unit="us")


def _gap_mask(days: pd.DatetimeIndex, field: str, venue: str) -> np.ndarray:
    mask = np.zeros(len(days), dtype=bool)
    for a, b in GAPS.get((field, venue), []):
        mask |= (days >= pd.Timestamp(a, tz="UTC")) & (days <= pd.Timestamp(b, tz="UTC"))
    return mask


def _ar1(rng, n, phi, scale):
    e = rng.normal(0, scale, n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + e[i]
        out[i] = acc
    return out


def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Build the demo frames. Deterministic for a given seed and numpy version family."""
    rng = np.random.default_rng(seed)
    days = _days()
    n = len(days)
    t = np.arange(n, dtype=float)
    anchor_t = np.array([(pd.Timestamp(d, tz="UTC") - days[0]).days for d, _ in ANCHORS], float)
    log_p = np.interp(t, anchor_t, np.log([p for _, p in ANCHORS])) + _ar1(rng, n, 0.9, 0.018)
    usd = np.exp(log_p)

    heat = np.zeros(n)
    for d, width, h in HEAT:
        c = (pd.Timestamp(d, tz="UTC") - days[0]).days
        heat += h * np.exp(-0.5 * ((t - c) / width) ** 2)
    heat += _ar1(rng, n, 0.8, 0.15)

    # stablecoins in USD
    usdt = 1.0 + _ar1(rng, n, 0.7, 0.0004)
    dep = (pd.Timestamp("2018-10-15", tz="UTC") - days[0]).days
    usdt -= 0.025 * np.exp(-np.maximum(t - dep, 0) / 10.0) * (t >= dep)
    usdc = 1.0 + _ar1(rng, n, 0.7, 0.0002)
    dep = (pd.Timestamp("2023-03-11", tz="UTC") - days[0]).days
    usdc -= 0.11 * np.exp(-np.maximum(t - dep, 0) / 2.0) * (t >= dep)
    fx = pd.DataFrame({"USDT": usdt.round(6), "USDC": usdc.round(6)}, index=days)
    quote_usd = {"USD": np.ones(n), "USDT": usdt, "USDC": usdc}

    # spot premium of spot over the perp basket [% of perp]: spot-led in recoveries (positive),
    # futures-led (negative) while leverage is hot
    premium_pct = 0.02 - 0.06 * heat + _ar1(rng, n, 0.6, 0.03)
    perp_usd = usd / (1 + premium_pct / 100)

    spot = {}
    for v, (quote, first, bias, noise) in SPOT.items():
        close = usd * (1 + bias + rng.normal(0, noise, n)) / quote_usd[quote]
        close[(days < pd.Timestamp(first, tz="UTC")) | _gap_mask(days, "spot", v)] = np.nan
        spot[v] = close.round(2)
    perp, oi_rows, fund_rows = {}, [], []
    # per-8h funding as a fraction: baseline 0.01 %, crowded longs push it up
    f8 = 0.0001 + 0.00022 * heat + _ar1(rng, n, 0.7, 0.00004)
    # aggregate OI in BTC: slow growth, built up by heat, flushed in capitulations
    oi_btc_total = 120_000 * (1 + t / n) * np.exp(0.18 * heat + _ar1(rng, n, 0.95, 0.01))
    share_total = sum(OI_SHARE.values())
    for v, (quote, first, oi_first, interval, f_first) in PERP.items():
        live = days >= pd.Timestamp(first, tz="UTC")
        close = perp_usd * (1 + rng.normal(0, 0.00025, n)) / quote_usd[quote]
        close[~live] = np.nan
        perp[v] = close.round(2)
        # OI sampled at 23:00 UTC each day (the bar's last sample)
        oi_live = (days >= pd.Timestamp(oi_first, tz="UTC")) & ~_gap_mask(days, "oi", v)
        oi_v = oi_btc_total * OI_SHARE[v] / share_total * (1 + rng.normal(0, 0.01, n))
        idx = np.flatnonzero(oi_live)
        oi_rows.append(pd.DataFrame({
            "venue": v, "time": days[idx] + pd.Timedelta(hours=23),
            "oi_btc": oi_v[idx].round(3), "oi_usd": (oi_v[idx] * perp_usd[idx]).round(0),
        }))
        # funding events at native interval; a settlement at T pays for (T - interval, T]
        per_day = 24 // interval
        f_live = (days >= pd.Timestamp(f_first, tz="UTC")) & ~_gap_mask(days, "funding", v)
        d_idx = np.repeat(np.flatnonzero(f_live), per_day)
        k = np.tile(np.arange(1, per_day + 1), int(f_live.sum()))
        times = days[d_idx] + pd.to_timedelta(k * interval, unit="h")
        rate = f8[d_idx] / 8 * interval * (1 + rng.normal(0, 0.05, len(d_idx)))
        rate = rate + rng.normal(0, 0.000004, len(d_idx)) * interval / 8
        fund_rows.append(pd.DataFrame({"venue": v, "time": times, "rate": rate.round(8),
                                       "interval_hours": float(interval)}))
    spot_df = pd.DataFrame(spot, index=days)
    perp_df = pd.DataFrame(perp, index=days)
    oi_df = pd.concat(oi_rows, ignore_index=True)
    fund_df = pd.concat(fund_rows, ignore_index=True)
    meta = {
        "description": "SYNTHETIC demo data generated by scripts/make_demo_data.py "
                       f"(seed {seed}); shaped like real multi-venue BTC data, not market data.",
        "seed": seed,
        "spot_quotes": {v: q for v, (q, *_rest) in SPOT.items()},
        "perp_quotes": {v: q for v, (q, *_rest) in PERP.items()},
        "funding_intervals_hours": {v: p[3] for v, p in PERP.items()},
    }
    return {"spot": spot_df, "perp": perp_df, "funding": fund_df, "open_interest": oi_df,
            "fx": fx, "meta": meta}


def write(frames: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("spot", "perp", "funding", "open_interest", "fx"):
        path = out / f"demo_{name}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        frames[name].to_parquet(tmp, compression="zstd")
        tmp.replace(path)
        written.append(path)
    meta_path = out / "demo_meta.json"
    meta_path.write_text(json.dumps(frames["meta"], indent=2, sort_keys=True) + "\n")
    written.append(meta_path)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="compare with the shipped files")
    args = ap.parse_args(argv)
    frames = generate()
    if args.check:
        for name in ("spot", "perp", "funding", "open_interest", "fx"):
            shipped = pd.read_parquet(args.out / f"demo_{name}.parquet")
            pd.testing.assert_frame_equal(shipped, frames[name], check_freq=False)
        print("demo data matches the generator")
        return 0
    for p in write(frames, args.out):
        print(f"wrote {p.name} ({p.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
