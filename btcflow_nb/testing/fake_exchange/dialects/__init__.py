"""The venue dialects of the fake exchange: ccxt exchange id -> `Dialect` (`DIALECTS`).

One module per ccxt id, named after it, holding that venue's routes, page limits, history depth
and reply formatting as data and small functions (see `dialect` for what a dialect is made of).
The server (`btcflow_nb.testing.fake_exchange.server`) dispatches every request through
`DIALECTS`, in this order (the order of `FakeExchange.venues` and of the config it writes).
"""
from __future__ import annotations

from . import (binance, binancecoinm, binanceusdm, bitfinex, bitstamp, bybit, coinbase, deribit,
               gate, htx,
               hyperliquid, kraken, krakenfutures, kucoinfutures, okx)
from .dialect import Ctx, Dialect

#: ccxt exchange id -> its dialect
DIALECTS = {module.DIALECT.exchange_id: module.DIALECT for module in (
    coinbase, kraken, bitstamp, binance, binanceusdm, okx, bybit, bitfinex, gate, htx,
    kucoinfutures, deribit, krakenfutures, hyperliquid, binancecoinm)}

__all__ = ["DIALECTS", "Ctx", "Dialect"]
