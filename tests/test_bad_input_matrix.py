"""A systematic generator of bad values for every argument of the public API (issue 17, point
"Bad inputs"): wrong type, NaN, inf, negative, huge, empty, unknown names, and bad columns in the
frames handed to `MarketData.from_frames`.  Every probe must end in a ``ValueError`` (or a
``TypeError`` for a value of the wrong type) raised by btcflow-nb itself -- never a traceback
from deep inside pandas, numpy or ccxt, and never a silently wrong result -- whose message
names the argument (or the frame and column) it is about.

Each function's arguments are read from its signature, so a new keyword is probed too; a value
that is valid for an argument is listed in `VALID` and skipped (``since=None`` means "resume").
No probe reaches the network: the exchanges point at a closed local port.
"""
from __future__ import annotations

import datetime as dt
import inspect
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import btcflow_nb as bf
from btcflow_nb.marketdata import MarketData
from btcflow_nb.sources.imports import import_binance, import_file

PACKAGE = Path(bf.__file__).resolve().parent

#: label -> a bad value of one kind
BAD = {
    "None": None, "True": True, "nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"),
    "negative": -7, "zero": 0, "huge": 10 ** 30, "float": 2.5, "denormal": 5e-324,
    "empty str": "", "unknown name": "no-such-thing", "empty list": [], "dict": {"a": 1},
    "object": object(), "bytes": b"1d", "datetime": dt.datetime(2024, 1, 1),
}
#: (function, argument) -> labels of `BAD` that are valid values there
VALID = {
    # None means "the default" wherever it is the default
    **{(f, a): {"None"} for f, a in [
        ("fetch", "venues"), ("fetch", "since"), ("fetch", "until"), ("fetch", "cache_dir"),
        ("fetch", "exchanges"), ("from_cache", "venues"), ("from_cache", "since"),
        ("from_cache", "until"), ("from_cache", "cache_dir"), ("load", "source"),
        ("load", "venues"), ("load", "since"), ("load", "until"), ("load", "cache_dir"),
        ("load", "exchanges"), ("flow_metrics", "spot_venues"), ("flow_metrics", "perp_venues"),
        ("flow_metrics", "start"), ("flow_metrics", "end")]},
    # an int time is epoch ms and a datetime is a time; an empty dict is "no exchanges given"
    ("fetch", "progress"): {"True"}, ("load", "progress"): {"True"},
    # fetch creates a cache directory that is not there yet
    ("fetch", "cache_dir"): {"None", "unknown name"},
    # load(source="cache") never uses exchange objects (fetch checks their keys)
    ("load", "exchanges"): {"None", "dict"},
    ("flow_metrics", "apr"): {"True"}, ("flow_metrics", "extremes"): {"True"},
    ("flow_metrics", "premium_min"): {"zero", "float", "denormal", "inf", "huge"},
    ("flow_metrics", "oi_build_z"): {"zero", "float", "negative", "denormal"},
    ("flow_metrics", "oi_hot_z"): {"zero", "float", "negative", "denormal"},
    ("flow_metrics", "bull_oi_z_max"): {"zero", "float", "negative", "denormal"},
    ("flow_metrics", "funding_hot"): {"zero", "denormal", "float"},
    ("flow_metrics", "bull_funding_max"): {"zero", "denormal", "float"},
    ("flow_metrics", "cycle_k"): {"zero", "float", "denormal"},
    ("flow_metrics", "bb_mult"): {"float", "denormal"},
    ("flow_metrics", "max_gap"): {"zero", "huge"},
    # a window longer than the data is NaN and a note, never an error (issue 12)
    **{("flow_metrics", a): {"huge"} for a in ("lookback", "funding_smoothing", "bb_length",
                                              "trend_length")},
    ("load", "timeout"): {"float"},
    # dated futures: None is "the default selection", True "every venue", [] "none"
    **{(f, "dated"): {"None", "True", "empty list"} for f in ("fetch", "from_cache", "load")},
    # no leg given: the spot and perp baskets
    ("flow_metrics", "spot_leg"): {"None"}, ("flow_metrics", "futures_leg"): {"None"},
}
for _f, _a in [("fetch", "since"), ("fetch", "until"), ("from_cache", "since"),
               ("from_cache", "until"), ("load", "since"), ("load", "until"),
               ("flow_metrics", "start"), ("flow_metrics", "end")]:
    VALID[(_f, _a)] = VALID.get((_f, _a), set()) | {"datetime", "zero", "negative"}


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """No network (a closed port), an empty private cache, no configuration file."""
    from btcflow_nb.testing.servers import OFFLINE_API_BASE

    base = tmp_path_factory.mktemp("offline")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BTCFLOW_NB_API_BASE", OFFLINE_API_BASE)
        patch.setenv("BTCFLOW_NB_CACHE_DIR", str(base / "cache"))
        patch.delenv("BTCFLOW_NB_CONFIG", raising=False)
        patch.delenv("BTCFLOW_NB_SOURCE", raising=False)
        yield base


def _refused(call, *names):
    """`call()` raises a ValueError/TypeError raised in btcflow-nb's own code whose message
    names one of `names`; returns the message."""
    try:
        call()
    except (ValueError, TypeError) as exc:
        where = Path(traceback.extract_tb(exc.__traceback__)[-1].filename).resolve()
        assert PACKAGE in where.parents, f"raised inside {where}: {type(exc).__name__}: {exc}"
        msg = str(exc)
        spelled = [n for name in names for n in (name, name.replace("_", " "),
                                                 name.replace("_", " ").rstrip("s"))]
        assert any(n in msg for n in spelled), f"{msg!r} names none of {names}"
        return msg
    except Exception as exc:  # noqa: BLE001 - the probe's failure is the finding
        pytest.fail(f"{type(exc).__name__} (not a clear ValueError): {exc}")
    pytest.fail("accepted silently")


def _signature_probes(name, function, skip=()):
    params = [p for p in inspect.signature(function).parameters.values()
              if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in skip]
    for p in params:
        for label, value in BAD.items():
            if label not in VALID.get((name, p.name), set()):
                yield pytest.param(name, p.name, value, id=f"{name}-{p.name}-{label}")


PROBES = [
    *_signature_probes("fetch", bf.fetch),
    *_signature_probes("from_cache", bf.from_cache),
    *_signature_probes("load", bf.load),
    *_signature_probes("flow_metrics", bf.flow_metrics, skip=("md",)),
]
CALLS = {"fetch": lambda **kw: bf.fetch(**dict({"progress": False}, **kw)),
         "from_cache": bf.from_cache,
         "load": lambda **kw: bf.load(**dict({"progress": False, "source": "cache"}, **kw))}


@pytest.mark.parametrize("function,argument,value", PROBES)
def test_every_bad_argument_is_refused_by_name(offline, demo, function, argument, value):
    if function == "flow_metrics":
        call = lambda: bf.flow_metrics(demo, **{argument: value})  # noqa: E731
    else:
        call = lambda: CALLS[function](**{argument: value})  # noqa: E731
    _refused(call, argument)


# ---- the frames of MarketData.from_frames ------------------------------------------------------

def _times(n=5, tz="UTC"):
    return pd.date_range("2024-01-01", periods=n, freq="D", tz=tz, name="time")


def _wide(values, tz="UTC"):
    return pd.DataFrame({"coinbase": values}, index=_times(len(values), tz))


def _funding(**columns):
    base = {"venue": ["okx"] * 3, "time": _times(3), "rate": [1e-4] * 3,
            "interval_hours": [8.0] * 3}
    base.update(columns)
    return pd.DataFrame(base)


def _oi(**columns):
    base = {"venue": ["okx"] * 3, "time": _times(3), "oi_btc": [1.0] * 3, "oi_usd": [7e4] * 3}
    base.update(columns)
    return pd.DataFrame(base)


FRAME_PROBES = {
    # prices: each must be refused naming the frame and the column
    "spot bool column": (lambda: {"spot": _wide([True, False, True])}, "coinbase"),
    "spot datetime column": (lambda: {"spot": _wide(list(_times(3)))}, "coinbase"),
    "spot timedelta column": (lambda: {"spot": _wide(pd.to_timedelta([1, 2, 3], unit="D"))},
                              "coinbase"),
    "spot text column": (lambda: {"spot": _wide(["a", "b", "c"])}, "coinbase"),
    "spot complex column": (lambda: {"spot": _wide([1 + 1j, 2, 3])}, "coinbase"),
    "spot object bools": (lambda: {"spot": _wide(np.array([True, 2.0, 3.0], dtype=object))},
                          "coinbase"),
    "spot denormal price": (lambda: {"spot": _wide([7e4, 5e-324, 7e4])}, "coinbase"),
    "spot tiny price": (lambda: {"spot": _wide([7e4, 1e-200, 7e4])}, "coinbase"),
    "spot huge price": (lambda: {"spot": _wide([7e4, 1e300, 7e4])}, "coinbase"),
    "spot inf": (lambda: {"spot": _wide([7e4, np.inf, 7e4])}, "coinbase"),
    "spot negative": (lambda: {"spot": _wide([7e4, -1.0, 7e4])}, "coinbase"),
    "perp bool column": (lambda: {"perp": _wide([True, True, True]).rename(
        columns={"coinbase": "okx"})}, "okx"),
    "fx datetime column": (lambda: {"fx": _wide(list(_times(3))).rename(
        columns={"coinbase": "USDT"})}, "USDT"),
    "spot not a frame": (lambda: {"spot": [1, 2, 3]}, "spot"),
    "spot float index": (lambda: {"spot": pd.DataFrame({"coinbase": [1.0, 2.0]},
                                                       index=[1.5, 2.5])}, "spot"),
    "spot bool index": (lambda: {"spot": pd.DataFrame({"coinbase": [1.0, 2.0]},
                                                      index=[True, False])}, "spot"),
    "naive times, naive_tz int": (lambda: {"spot": _wide([1.0, 2.0], tz=None),
                                           "naive_tz": 123}, "naive_tz"),
    "naive times, naive_tz True": (lambda: {"spot": _wide([1.0, 2.0], tz=None),
                                            "naive_tz": True}, "naive_tz"),
    "naive times, naive_tz float": (lambda: {"spot": _wide([1.0, 2.0], tz=None),
                                             "naive_tz": 3600.0}, "naive_tz"),
    "naive times, unknown zone": (lambda: {"spot": _wide([1.0, 2.0], tz=None),
                                           "naive_tz": "Mars/Olympus"}, "naive_tz"),
    "naive_tz int, aware times": (lambda: {"spot": _wide([1.0, 2.0]), "naive_tz": 123},
                                  "naive_tz"),
    # funding and open interest
    "funding bool rate": (lambda: {"funding": _funding(rate=[True, False, True])}, "rate"),
    "funding datetime rate": (lambda: {"funding": _funding(rate=list(_times(3)))}, "rate"),
    "funding bool interval": (lambda: {"funding": _funding(interval_hours=[True] * 3)},
                              "interval_hours"),
    "funding float times": (lambda: {"funding": _funding(time=[1.5, 2.5, 3.5])}, "time"),
    "funding bool times": (lambda: {"funding": _funding(time=[True, False, True])}, "time"),
    "funding inf rate": (lambda: {"funding": _funding(rate=[np.inf, 0.0, 0.0])}, "rate"),
    "funding nan interval": (lambda: {"funding": _funding(interval_hours=[np.nan] * 3)},
                             "interval_hours"),
    "funding venue int": (lambda: {"funding": _funding(venue=[1, 2, 3])}, "venue"),
    "oi bool amount": (lambda: {"open_interest": _oi(oi_btc=[True] * 3)}, "oi_btc"),
    "oi datetime amount": (lambda: {"open_interest": _oi(oi_usd=list(_times(3)))}, "oi_usd"),
    "oi negative": (lambda: {"open_interest": _oi(oi_btc=[-1.0, 1.0, 1.0])}, "oi_btc"),
    "oi inf": (lambda: {"open_interest": _oi(oi_usd=[np.inf, 1.0, 1.0])}, "oi_usd"),
    "oi huge": (lambda: {"open_interest": _oi(oi_usd=[1e300, 1.0, 1.0])}, "oi_usd"),
    # quotes, meta
    "spot_quotes unknown currency": (lambda: {"spot": _wide([1.0, 2.0]),
                                              "spot_quotes": {"coinbase": "EUR"}}, "EUR"),
    "spot_quotes not a dict": (lambda: {"spot": _wide([1.0, 2.0]), "spot_quotes": "USDT"},
                               "spot_quotes"),
    "perp_quotes list": (lambda: {"perp": _wide([1.0, 2.0]), "perp_quotes": ["USDT"]},
                         "perp_quotes"),
    "meta not a dict": (lambda: {"spot": _wide([1.0, 2.0]), "meta": ["x"]}, "meta"),
}


@pytest.mark.parametrize("case", list(FRAME_PROBES))
def test_every_bad_frame_is_refused_naming_the_column(case):
    make, name = FRAME_PROBES[case]
    _refused(lambda: MarketData.from_frames(**make()), name)


# ---- imports ---------------------------------------------------------------------------------------

def _file(path, format="tradingview", **kw):
    return import_file(path, format, **dict({"venue": "spot:coinbase", "timeframe": "1d"}, **kw))


def _archive(dataset="klines", **kw):
    # a closed port: an argument checked only after a request would fail on the network
    return import_binance(dataset, **dict({"since": "2024-01-01", "base": "http://127.0.0.1:1",
                                           "timeout": 1.0}, **kw))


IMPORT_PROBES = {
    "file format unknown": (lambda p: _file(p, "no-such-format"), "format"),
    "file format int": (lambda p: _file(p, 5), "format"),
    "file missing": (lambda p: _file(p.parent / "missing.csv"), "missing"),
    "file path int": (lambda p: _file(5), "path"),
    "file oi_unit": (lambda p: _file(p, oi_unit="eth"), "oi_unit"),
    "file timeframe": (lambda p: _file(p, timeframe="5m"), "timeframe"),
    "file series": (lambda p: _file(p, series="trades"), "trades"),
    "file venue": (lambda p: _file(p, venue="perp:ftx"), "perp:ftx"),
    "file venue int": (lambda p: _file(p, venue=5), "venue"),
    "file cache_dir int": (lambda p: _file(p, cache_dir=5), "cache_dir"),
    "binance dataset": (lambda p: _archive("trades"), "trades"),
    "binance market": (lambda p: _archive(market="xx"), "market"),
    "binance interval": (lambda p: _archive(interval="7m"), "7m"),
    "binance sample": (lambda p: _archive("metrics", sample="2s"), "sample"),
    "binance since": (lambda p: _archive(since="someday"), "since"),
    "binance since bool": (lambda p: _archive(since=True), "since"),
    "binance since huge": (lambda p: _archive(since=10 ** 30), "since"),
    "binance contract_size nan": (lambda p: _archive(contract_size=float("nan")),
                                  "contract_size"),
    "binance contract_size negative": (lambda p: _archive(contract_size=-1), "contract_size"),
    "binance timeout negative": (lambda p: _archive(timeout=-1), "timeout"),
    "binance timeout nan": (lambda p: _archive(timeout=float("nan")), "timeout"),
    "binance symbol int": (lambda p: _archive(symbol=5), "symbol"),
    "binance symbol unknown": (lambda p: _archive(symbol="ETHUSDT"), "ETH"),
}


@pytest.mark.parametrize("case", list(IMPORT_PROBES))
def test_every_bad_import_argument_is_refused_by_name(offline, tmp_path, case):
    path = tmp_path / "export.csv"
    path.write_text("time,open,high,low,close\n2024-01-01T00:00:00Z,1,1,1,1\n")
    make, name = IMPORT_PROBES[case]
    _refused(lambda: make(path), name)


# ---- the configuration file ------------------------------------------------------------------------

CONFIG_PROBES = {
    "unknown top-level key": ({"cache_dirr": "/tmp/x"}, "cache_dirr"),
    "cache_dir int": ({"cache_dir": 5}, "cache_dir"),
    "cache_dir empty": ({"cache_dir": ""}, "cache_dir"),
    "api_base scheme": ({"api_base": "ftp://example.org"}, "api_base"),
    "api_base int": ({"api_base": 5}, "api_base"),
    "exchanges list": ({"exchanges": []}, "exchanges"),
    "exchanges unknown id": ({"exchanges": {"ftx": {}}}, "ftx"),
    "exchanges options not a dict": ({"exchanges": {"binance": 5}}, "binance"),
    "rateLimit huge": ({"exchanges": {"binance": {"rateLimit": 1e7}}}, "rateLimit"),
    "rateLimit negative": ({"exchanges": {"binance": {"rateLimit": -1}}}, "rateLimit"),
    "rateLimit text": ({"exchanges": {"binance": {"rateLimit": "fast"}}}, "rateLimit"),
    "timeout zero": ({"exchanges": {"binance": {"timeout": 0}}}, "timeout"),
    "retry list": ({"retry": []}, "retry"),
    "retry unknown key": ({"retry": {"tries": 3}}, "tries"),
    "retry attempts zero": ({"retry": {"attempts": 0}}, "attempts"),
    "retry attempts text": ({"retry": {"attempts": "3"}}, "attempts"),
    "retry attempts float": ({"retry": {"attempts": 2.5}}, "attempts"),
    "retry base_delay NaN": ({"retry": {"base_delay": float("nan")}}, "base_delay"),
    "retry base_delay inf": ({"retry": {"base_delay": float("inf")}}, "base_delay"),
    "retry max_delay negative": ({"retry": {"max_delay": -1}}, "max_delay"),
    "retry attempts bool": ({"retry": {"attempts": True}}, "attempts"),
    "venues not a list": ({"venues": {"name": "x"}}, "venues"),
    "venue key with ../": ({"venues": [{"kind": "perp", "key": "../evil", "exchange_id": "okx",
                                        "symbol": "BTC/USDT:USDT", "quote": "USDT"}]}, "evil"),
}


@pytest.mark.parametrize("case", list(CONFIG_PROBES))
def test_every_bad_config_key_is_refused_by_name(tmp_path, monkeypatch, case):
    import json

    from btcflow_nb.sources.config import load_config

    content, name = CONFIG_PROBES[case]
    path = tmp_path / "btcflow-nb-config.json"
    path.write_text(json.dumps(content))
    monkeypatch.setenv("BTCFLOW_NB_CONFIG", str(path))
    monkeypatch.delenv("BTCFLOW_NB_API_BASE", raising=False)   # it would override api_base
    _refused(load_config, name)


# ---- the command line ----------------------------------------------------------------------------

CLI_PROBES = {
    "fetch timeframe": (["fetch", "--timeframe", "5m"], "5m"),
    "fetch since text": (["fetch", "--since", "someday"], "someday"),
    "fetch since huge": (["fetch", "--since", "1" + "0" * 30], "since"),
    "fetch since float": (["fetch", "--since", "1.5"], "since"),
    "fetch until before since": (["fetch", "--since", "2024-02-01", "--until", "2024-01-01"],
                                 "after until"),
    "fetch venue unknown": (["fetch", "--venues", "ftx"], "ftx"),
    "fetch venue traversal": (["fetch", "--venues", "../x"], "../x"),
    "fetch cache-dir empty": (["fetch", "--cache-dir", ""], "cache_dir"),
    "coverage timeframe": (["coverage", "--timeframe", "7h"], "7h"),
    "coverage missing cache": (["coverage", "--cache-dir", "/no/such/dir"], "/no/such/dir"),
    "import file missing": (["import", "file", "/no/such.csv", "--format", "tradingview"],
                            "/no/such.csv"),
    "import file format": (["import", "file", "{csv}", "--format", "nope"], "nope"),
    "import file timeframe": (["import", "file", "{csv}", "--format", "tradingview",
                               "--venue", "spot:coinbase", "--timeframe", "9m"], "9m"),
    "import file venue": (["import", "file", "{csv}", "--format", "tradingview", "--venue",
                           "perp:ftx"], "perp:ftx"),
    "import binance dataset": (["import", "binance", "--dataset", "trades", "--since",
                                "2024-01-01"], "trades"),
    "import binance since": (["import", "binance", "--dataset", "klines", "--since", "x"],
                             "since"),
    "import binance sample": (["import", "binance", "--dataset", "metrics", "--since",
                               "2024-01-01", "--sample", "2s", "--base-url",
                               "http://127.0.0.1:1"], "sample"),
    "render missing notebook": (["render", "/no/such.ipynb", "--out", "{tmp}"], "no/such.ipynb"),
    "unknown command": (["frobnicate"], "frobnicate"),
}


@pytest.mark.parametrize("case", list(CLI_PROBES))
def test_every_bad_command_line_ends_in_a_named_error(offline, tmp_path, capsys, case):
    """Exit status 2 (1 for a render that found nothing to do) and a message on stderr that
    names the value -- never a traceback."""
    from btcflow_nb.cli import main

    csv = tmp_path / "export.csv"
    csv.write_text("time,open,high,low,close\n2024-01-01T00:00:00Z,1,1,1,1\n")
    argv, name = CLI_PROBES[case]
    argv = [a.format(csv=csv, tmp=tmp_path / "out") for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:       # argparse: a usage error
        code = exc.code
    except Exception as exc:  # noqa: BLE001 - the probe's finding
        pytest.fail(f"traceback: {type(exc).__name__}: {exc}")
    err = capsys.readouterr().err
    assert code in (1, 2), (code, err)
    assert "Traceback" not in err
    spelled = (name, name.replace("_", "-"))
    assert any(s in err for s in spelled), err
