"""The watcher's parts without a network: which bars fire, the state file (atomic, corrupt,
another version, locked), channels' bad input and secrets, the config file."""
from __future__ import annotations

import json
import os
import stat

import pandas as pd
import pytest

from btcflow_nb.alerts import (DesktopChannel, EmailChannel, JsonlChannel, Rule, StateError,
                               WatchState, WebhookChannel, load_watch_config, parse_duration)
from btcflow_nb.alerts.message import build_alert, discord_body, slack_body, text_body
from btcflow_nb.alerts.rules import alert_key, fired_bars
from btcflow_nb.alerts.state import atomic_write_text


@pytest.fixture(scope="module")
def weekly(demo):
    from btcflow_nb import flow_metrics

    return flow_metrics(demo, "1W", lookback=52)


def _onset_bars(m, column):
    return list(m.index[m[f"{column}_onset"]])


# ------------------------------------------------------------------------------ which bars fire


def test_first_run_is_the_latest_closed_bar_and_watermarks_never_repeat(weekly):
    bars = _onset_bars(weekly, "bullish")
    assert len(bars) >= 3
    target = bars[-2]
    now = target + pd.Timedelta(days=7, hours=1)           # that week closed an hour ago
    closed, prov, mark = fired_bars(weekly, "bullish", now, None)
    assert closed == [target] and prov == [] and mark == target
    # no onset on the latest closed bar: nothing on a first run, the watermark still moves
    quiet = target + pd.Timedelta(days=14, hours=1)
    if quiet - pd.Timedelta(days=7, hours=1) not in bars:
        assert fired_bars(weekly, "bullish", quiet, None)[0] == []
    # a watermark: every onset after it up to now, once
    later = bars[-1] + pd.Timedelta(days=7)
    closed, _, mark2 = fired_bars(weekly, "bullish", later, bars[0])
    assert closed == [b for b in bars if b > bars[0]] and mark2 == bars[-1]
    assert fired_bars(weekly, "bullish", later, mark2)[0] == []
    # since: every onset from it, on a first run
    assert fired_bars(weekly, "bullish", later, None, since=bars[1])[0] == bars[1:]


def test_the_open_bar_fires_only_intrabar(weekly):
    bar = _onset_bars(weekly, "bearish")[-1]
    now = bar + pd.Timedelta(days=3)                        # mid-week: the bar is open
    assert fired_bars(weekly, "bearish", now, None)[0:2] == ([], [])
    closed, prov, _ = fired_bars(weekly, "bearish", now, None, intrabar=True)
    assert prov == [bar] and bar not in closed


def test_alert_message_has_values_thresholds_and_the_explanation(weekly):
    from btcflow_nb import explain

    bar = _onset_bars(weekly, "alert_premium_high")[-1]
    alert = build_alert(weekly, bar, "premium_high", rule_id="r1", provisional=False,
                        evaluated_at=bar)
    assert alert["idempotency_key"] == alert_key("r1", "premium_high", bar, False)
    assert alert["idempotency_key"] != alert_key("r1", "premium_high", bar, True)
    assert alert["values"]["bb_upper"] == pytest.approx(weekly.loc[bar, "bb_upper"])
    assert alert["thresholds"] == {"bb_length": 20, "bb_mult": 2.0}
    assert [c["passed"] for c in alert["conditions"]] == [True, True]
    text = explain(weekly, bar, as_text=True)
    assert "alert_premium_high: ON (onset)" in alert["explanation"]
    assert set(alert["explanation"].splitlines()) <= set(text.splitlines())
    json.dumps(alert, allow_nan=False)                       # NaN became null
    body = text_body(alert)
    assert alert["explanation"] in body and alert["idempotency_key"] in body
    assert len(discord_body(alert)["content"]) <= 2000
    assert len(discord_body(alert)["embeds"][0]["description"]) <= 4096
    assert slack_body(alert)["text"] == alert["title"]


# ------------------------------------------------------------------------------------- state


def _alert(key="k1", bar="2026-01-05T00:00:00+00:00"):
    return {"idempotency_key": key, "bar_open": bar, "kind": "bullish"}


def test_state_records_pending_then_delivered_atomically(tmp_path):
    st = WatchState(tmp_path / "s.json")
    new = st.record([_alert()], {"webhook-abc": "webhook https://x"},
                    {"r:bullish": pd.Timestamp("2026-01-05", tz="UTC")})
    assert new and st.pending("webhook-abc") == [_alert()]
    assert st.record([_alert()], {"webhook-abc": "w"}, {}) == []   # a key is recorded once
    st.mark("k1", "webhook-abc", delivered=True)
    st.close()
    again = WatchState(tmp_path / "s.json")
    assert again.pending("webhook-abc") == []
    assert again.watermark("r", "bullish") == pd.Timestamp("2026-01-05", tz="UTC")
    assert stat.S_IMODE(os.stat(tmp_path / "s.json").st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    again.close()


def test_a_second_watcher_on_the_same_state_is_refused(tmp_path):
    first = WatchState(tmp_path / "s.json")
    with pytest.raises(StateError, match="in use by another running watcher"):
        WatchState(tmp_path / "s.json")
    first.close()
    WatchState(tmp_path / "s.json").close()                  # free again


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"format": "other"}',
                                     b'{"format": "btcflow-nb watch state", "version": 1}'])
def test_a_corrupt_state_is_set_aside_not_reset_in_place(tmp_path, content):
    path = tmp_path / "s.json"
    path.write_bytes(content)
    st = WatchState(path)
    assert st.set_aside is not None and st.set_aside.read_bytes() == content
    assert ".corrupt-" in st.set_aside.name and st.data["watermarks"] == {}
    st.close()


def test_a_state_from_another_version_is_refused_untouched(tmp_path):
    path = tmp_path / "s.json"
    text = json.dumps({"format": "btcflow-nb watch state", "version": 99, "watermarks": {},
                       "channels": {}, "alerts": {}})
    path.write_text(text)
    with pytest.raises(StateError, match=r"version 99.*reads version 1"):
        WatchState(path)
    assert path.read_text() == text and list(tmp_path.glob("*.corrupt-*")) == []


def test_atomic_write_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    atomic_write_text(path, "old")

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"


# ---------------------------------------------------------------------- channels, bad input


def test_webhook_secrets_never_show(tmp_path):
    url = "https://hooks.slack.com/services/T000/B000/abcdefSECRETxyz"
    ch = WebhookChannel(url)
    assert ch.format == "slack" and "SECRET" not in ch.name and "SECRET" not in ch.id
    assert ch.redact(f"failed for {url} and /services/T000/B000/abcdefSECRETxyz") == \
        "failed for *** and ***"
    assert WebhookChannel("https://discord.com/api/webhooks/1/tok-en-123456").format == "discord"
    with pytest.raises(ValueError, match="http"):
        WebhookChannel("ftp://example.com/x")
    with pytest.raises(ValueError, match="unknown webhook format 'teams'"):
        WebhookChannel("https://example.com/x", format="teams")


def test_unreachable_smtp_host_is_named(monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_SMTP_USER", "u")
    monkeypatch.setenv("BTCFLOW_NB_SMTP_PASSWORD", "pw-never-shown-42")
    ch = EmailChannel("me@example.com", host="127.0.0.1", port=1, timeout=2)
    from btcflow_nb.alerts import DeliveryError

    with pytest.raises(DeliveryError, match=r"email via 127\.0\.0\.1:1 .*unreachable") as info:
        ch.deliver({"idempotency_key": "k", "title": "t", "values": {}, "thresholds": {},
                    "explanation": "", "what": "", "timeframe": "1h", "bar_open": "",
                    "bar_close": "", "provisional": False})
    assert "pw-never-shown-42" not in str(info.value)
    with pytest.raises(ValueError, match="SMTP host"):
        EmailChannel("me@example.com", host="")
    with pytest.raises(ValueError, match="addresses"):
        EmailChannel("not-an-address", host="smtp.example.com")


def test_jsonl_appends_each_key_once(tmp_path):
    path = tmp_path / "a.jsonl"
    JsonlChannel(path).send(_alert("k1"))
    JsonlChannel(path).send(_alert("k1"))                   # a restart: the key is in the file
    JsonlChannel(path).send(_alert("k2"))
    assert [json.loads(x)["idempotency_key"] for x in path.read_text().splitlines()] == \
        ["k1", "k2"]


def test_desktop_is_reported_unavailable_or_runs_notify_send(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match="unavailable.*notify-send"):
        DesktopChannel()
    log = tmp_path / "calls.txt"
    script = tmp_path / "notify-send"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {log}\n")
    script.chmod(0o755)
    ch = DesktopChannel()
    ch.send({"title": "btcflow-nb 1h bullish", "what": "bullish started", "timeframe": "1h",
             "bar_open": "2026-01-05T00:00:00+00:00"})
    assert "btcflow-nb 1h bullish" in log.read_text()


# -------------------------------------------------------------------------------- config


def test_config_file_and_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_URL", "https://example.com/hook/tokentokentoken")
    path = tmp_path / "watch.toml"
    path.write_text('every = "5m"\nstdout = true\n[[rules]]\nalerts = ["bullish", "cycle_top"]\n'
                    'timeframe = "4h"\n[rules.settings]\nlookback = 90\n'
                    '[[webhooks]]\nurl_env = "HOOK_URL"\n[retry]\nattempts = 2\n')
    cfg = load_watch_config(path, jsonl=[tmp_path / "a.jsonl"])
    assert cfg.every == 300 and cfg.retry.attempts == 2
    assert cfg.rules == [Rule(("bullish", "cycle_top"), "4h", {"lookback": 90})]
    assert [c.name.split()[0] for c in cfg.channels] == ["webhook", "jsonl", "stdout"]
    flagged = load_watch_config(path, alerts="premium_low", timeframe="1W")
    assert flagged.rules == [Rule(("premium_low",), "1W", {"lookback": 90})]
    assert [c.name for c in load_watch_config(None).channels] == ["stdout"]
    assert parse_duration("90s") == 90 and parse_duration("1h") == 3600


@pytest.mark.parametrize("text, words", [
    ('colour = "red"\n', ["unknown key(s) ['colour']", "every"]),
    ('[[rules]]\nalerts = ["bullish"]\ntimeframe = "2h"\n', ["'2h'", "1h, 4h"]),
    ('[[rules]]\nalerts = ["moon"]\n', ["unknown alert kind 'moon'", "cycle_bottom"]),
    ('[[rules]]\nalerts = ["bullish"]\n[rules.settings]\nspeed = 1\n', ["speed", "lookback"]),
    ('every = "0s"\n', ["every='0s'"]),
    ('[retry]\nattempts = 0\n', ["attempts=0"]),
    ('[[webhooks]]\nurl_env = "NOT_SET_ANYWHERE_X"\n', ["$NOT_SET_ANYWHERE_X is not set"]),
    ('[email]\nto = ["a@example.com"]\n', ["SMTP host"]),
    ("this is = = not toml", ["cannot parse watch config file 'watch.toml'"]),
])
def test_bad_config_names_the_value(tmp_path, monkeypatch, text, words):
    monkeypatch.delenv("BTCFLOW_NB_SMTP_HOST", raising=False)
    path = tmp_path / "watch.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_watch_config(path)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_stdout_prints_the_text_body(weekly):
    import io

    from btcflow_nb.alerts import StdoutChannel

    bar = _onset_bars(weekly, "overleveraged")[-1] if weekly["overleveraged_onset"].any() \
        else _onset_bars(weekly, "bullish")[-1]
    kind = "overleveraged" if weekly["overleveraged_onset"].any() else "bullish"
    alert = build_alert(weekly, bar, kind, rule_id="r", provisional=True, evaluated_at=bar)
    out = io.StringIO()
    StdoutChannel(out).send(alert)
    assert out.getvalue().startswith(alert["title"]) and "PROVISIONAL" in out.getvalue()
    assert "Why (bf.explain):" in out.getvalue()


@pytest.mark.parametrize("fmt, fields", [("json", {"idempotency_key", "conditions", "values"}),
                                         ("slack", {"text", "blocks"}),
                                         ("discord", {"content", "embeds"})])
def test_webhook_bodies_reach_a_receiver(weekly, fmt, fields):
    from btcflow_nb.testing.receivers import WebhookReceiver

    bar = _onset_bars(weekly, "bullish")[-1]
    alert = build_alert(weekly, bar, "bullish", rule_id="r", provisional=False,
                        evaluated_at=bar)
    with WebhookReceiver() as hook:
        WebhookChannel(hook.url + "/x", format=fmt).deliver(alert)
        (body,), (request,) = hook.accepted, hook.requests
    assert fields <= set(body)
    assert request["headers"]["Idempotency-Key"] == alert["idempotency_key"]
    assert alert["idempotency_key"] in json.dumps(body)
