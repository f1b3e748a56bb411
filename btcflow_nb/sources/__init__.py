"""Everything that touches the network or the disk, up to a `MarketData`.

Modules, in the order data flows through them:

* `venue`     -- the `Venue` record (where one series lives, how to read it) and its vocabularies
* `config`    -- the configuration file and environment variables, `RetryPolicy`, the cache
  directory, `point_exchange_at` (one server for every venue)
* `venues`    -- the registry: `DEFAULT_VENUES`, `registry`, `resolve_venues`, `venue_table`
* `plan`      -- what is asked: `FETCH_TIMEFRAMES` (ccxt spelling), `fetch_timeframe`, `_Plan`
* `exchanges` -- ccxt exchange objects: creation, preparation, pacing, retries, redaction
* `paging`    -- the ranges a cached series misses and the page-by-page loop over them
* `series`    -- one venue's series (OHLCV, funding, OI history, OI snapshot)
* `live`      -- `fetch` and `FetchError`: every venue concurrently, into the cache
* `parse`     -- pure functions: raw ccxt rows -> tidy frames, OI units
* `cache`     -- the Parquet cache files (paths, atomic writes, merge, set-aside)
* `assemble`  -- cache -> `MarketData`; `from_cache`
* `dated`     -- dated futures: `DATED_VENUES` (registry), contracts from load_markets, their cache
* `dated_fetch` -- `fetch_dated`: dated futures' candles (and continuous contracts) into the cache
* `demo`      -- `load_demo`, the bundled synthetic data set
* `archives`  -- Binance's public bulk archives: `get_binance` (download, checksums), `read_*`
* `files`     -- CSV exports (TradingView, vendors, a long format): `read_file`
* `imports`   -- `import_history`: archives and files merged into the cache with provenance
* `load`      -- `load` (what notebooks call: cache, refreshed when online; demo when neither),
  `load_summary`
* `ticks`     -- `TickPoller`: one live poll of last prices, current funding and current OI
* `overlay`   -- `overlay`: a poll laid over a MarketData's open bar (live dashboards)

The public names below are re-exported here lazily (importing this package loads nothing heavy).
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "fetch": "live", "FetchError": "live",
    "from_cache": "assemble",
    "load_demo": "demo", "SYNTHETIC_BADGE": "demo",
    "Venue": "venue",
    "DEFAULT_VENUES": "venues", "registry": "venues", "resolve_venues": "venues",
    "venue_table": "venues", "ccxt_has": "venues",
    "RetryPolicy": "config", "load_config": "config", "point_exchange_at": "config",
    "CacheError": "cache",
    "FETCH_TIMEFRAMES": "plan",
    "import_history": "imports",
    "fetch_dated": "dated_fetch", "DATED_VENUES": "dated",
    "TickPoller": "ticks",
}

# imported eagerly (it is light): a module `load` holding a function `load` must bind the
# function here, or the import system would leave the package attribute pointing at the module
from .load import load, load_summary, network_reachable  # noqa: E402

__all__ = list(_EXPORTS) + ["load", "load_summary", "network_reachable"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
