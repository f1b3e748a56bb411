"""`Watcher` against the fake exchange (its clock advanced through hourly bar closes), a local
webhook receiver, a real SMTP server with STARTTLS and AUTH (aiosmtpd) and a JSONL file: every
expected alert arrives once per channel with its content; errors are retried."""
from __future__ import annotations

import json
import logging

import pandas as pd
import pytest

import btcflow_nb
from btcflow_nb.alerts import Watcher, load_watch_config
from btcflow_nb.alerts.revisions import revision_window
from btcflow_nb.alerts.rules import KIND_SIGNAL
from btcflow_nb.testing.fake_exchange import HOUR_MS

from .conftest import (ALL_KINDS, SETTINGS, SMTP_PASSWORD, SMTP_USER, VENUES, cycle_metrics,
                       onsets_between, write_config)

SECRET_PATH = "/services/T0001/B0002/xoxb-SECRET-token-98765"


def _ts(ms) -> pd.Timestamp:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _watcher(tmp_path, fake, hook, smtp, cert, **kw):
    cfg = load_watch_config(write_config(tmp_path / "watch.json", smtp=smtp, cert=cert),
                            webhooks=[hook.url + SECRET_PATH], jsonl=[tmp_path / "alerts.jsonl"],
                            state=tmp_path / "state.json", **kw)
    return Watcher(cfg, clock=lambda: fake.now_ms, sleep=lambda s: None)


def _bar_with_onset(fake, after: pd.Timedelta):
    """The latest bar before the fake's start with an onset of some kind as seen ``after`` its
    open (data known then: funding settles later), and that time in ms."""
    bar = _ts(fake.start_ms).floor("h") - pd.Timedelta(hours=2)
    for _ in range(48):
        now = bar + after
        m = cycle_metrics(now)
        if m.loc[bar, [f"{KIND_SIGNAL[k]}_onset" for k in ALL_KINDS]].any():
            return bar, int(now.value // 1_000_000)
        bar -= pd.Timedelta(hours=1)
    raise AssertionError("no onset in two days of fake data")


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_alert_arrives_once_per_channel_with_its_content(data_env, fake, hook, smtp, cert,
                                                              smtp_env, tmp_path):
    start = _ts(fake.start_ms)
    since = start.floor("h") - pd.Timedelta(hours=30)
    w = _watcher(tmp_path, fake, hook, smtp, cert, since=since)
    # Bars within the revision window (the longest funding interval) can change when funding
    # settles: an onset that appears there later is sent late, one that vanishes is retracted
    # (btcflow_nb.alerts.revisions). Whether the test's hours cross a settlement depends on the
    # wall clock the fake's history ends at, so both are modelled here.
    window = revision_window(btcflow_nb.from_cache(VENUES, timeframe="1h",
                                                   until=_ts(fake.start_ms)))
    results, expected, late_sent, retracted, seen = [], set(), set(), set(), {}
    first_bar, watermark = since, None
    for hour in range(0, 7):             # the first run, then six bar closes, a cycle after each
        fake.set_now(fake.start_ms + hour * HOUR_MS)
        now = _ts(fake.now_ms)
        results.append(w.run_once())
        m = cycle_metrics(now)
        last_closed = now.floor("h") - pd.Timedelta(hours=1)
        expected |= onsets_between(m, ALL_KINDS, first_bar, last_closed)
        if watermark is not None:        # re-evaluated bars: closed within the window
            # a bar whose close (open + 1h) is after now - window, evaluated before this cycle
            late_from = max(since, now - window - pd.Timedelta(hours=1) +
                            pd.Timedelta(microseconds=1))
            late = onsets_between(m, ALL_KINDS, late_from, watermark) - expected
            still = onsets_between(m, ALL_KINDS, since, last_closed)
            retracted |= {(k, b) for k, b in expected - still
                          if pd.Timestamp(b) + pd.Timedelta(hours=1) > now - window
                          and pd.Timestamp(b) <= watermark}
            expected |= late
            late_sent |= late
        seen.update({a["idempotency_key"]: m for a in results[-1].alerts})
        first_bar, watermark = last_closed + pd.Timedelta(hours=1), last_closed
    w.close()
    assert all(r.ok for r in results), [r.failed or r.errors for r in results]
    assert len(expected) >= 4, "the window must hold several onsets for this test to mean much"
    # the first cycle covers the bars since `since`; later cycles each add at most the new bar
    # on time (late alerts and retractions come on top)
    assert all(len([a for a in r.alerts if not a.get("late") and not a.get("retraction")])
               <= len(ALL_KINDS) for r in results[1:])

    hooked = [(b["kind"], b["bar_open"]) for b in hook.accepted if not b.get("retraction")]
    retractions = [(b["kind"], b["bar_open"]) for b in hook.accepted if b.get("retraction")]
    mailed = [(m["X-Btcflow-Idempotency-Key"], m["Subject"]) for m in smtp.messages]
    lines = _jsonl(tmp_path / "alerts.jsonl")
    assert sorted(hooked) == sorted(expected) and len(hooked) == len(set(hooked))
    assert sorted(retractions) == sorted(retracted)
    assert {(b["kind"], b["bar_open"]) for b in hook.accepted if b.get("late")} == late_sent
    assert sorted((a["kind"], a["bar_open"]) for a in lines if not a.get("retraction")) == \
        sorted(expected)
    assert len(mailed) == len(expected) + len(retracted) == len({k for k, _ in mailed})
    assert {k for k, _ in mailed} == {b["idempotency_key"] for b in hook.accepted} == \
        {a["idempotency_key"] for a in lines}
    assert all(s["tls"] and s["user"] == SMTP_USER for s in smtp.sessions)

    # content: the values are flow_metrics', the explanation is bf.explain's, as of the cycle
    for body in (b for b in hook.accepted if not b.get("retraction")):
        m = seen[body["idempotency_key"]]
        bar = pd.Timestamp(body["bar_open"])
        signal = KIND_SIGNAL[body["kind"]]
        assert m.loc[bar, f"{signal}_onset"]
        assert body["values"]["premium_abs"] == pytest.approx(m.loc[bar, "premium_abs"])
        assert body["values"]["oi_z"] == pytest.approx(m.loc[bar, "oi_z"], nan_ok=True)
        assert body["provisional"] is False and body["timeframe"] == "1h"
        text = btcflow_nb.explain(m, bar, as_text=True)
        assert f"{signal}: ON (onset)" in body["explanation"]
        for line in body["explanation"].splitlines():
            assert line in text.splitlines()
        assert body["conditions"] and body["thresholds"]
        assert hook.requests[0]["headers"]["Idempotency-Key"]
    mail = next(m_ for m_ in smtp.messages
                if m_["X-Btcflow-Idempotency-Key"] == hook.accepted[0]["idempotency_key"])
    assert mail["Message-ID"] == f"<{hook.accepted[0]['idempotency_key']}@btcflow-nb>"
    content = mail.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert hook.accepted[0]["explanation"] in content and "Thresholds:" in content

    # a restart on the same state sends nothing again
    again = _watcher(tmp_path, fake, hook, smtp, cert, since=since)
    before = (len(hook.requests), len(smtp.sessions))
    assert again.run_once().alerts == []
    again.close()
    assert (len(hook.requests), len(smtp.sessions)) == before


def test_first_run_evaluates_only_the_latest_closed_bar(data_env, fake, tmp_path, hook):
    cfg = load_watch_config(write_config(tmp_path / "w.json"), webhooks=[hook.url],
                            state=tmp_path / "s.json")
    # walk the clock back until the latest closed bar has an onset of some kind
    bar, now = _bar_with_onset(fake, pd.Timedelta(hours=1, minutes=20))
    fake.set_now(now)
    w = Watcher(cfg, clock=lambda: fake.now_ms)
    result = w.run_once()
    w.close()
    assert result.alerts and {a["bar_open"] for a in result.alerts} == {bar.isoformat()}
    assert len(hook.accepted) == len(result.alerts)


def test_webhook_500_and_timeout_are_retried(data_env, fake, hook, tmp_path):
    since = _ts(fake.start_ms).floor("h") - pd.Timedelta(hours=30)
    cfg = load_watch_config(write_config(tmp_path / "w.json", retry={"timeout": 0.5,
                                                                      "attempts": 4}),
                            webhooks=[hook.url], state=tmp_path / "s.json", since=since)
    hook.fail_next(2, status=500)
    hook.stall_next(1, seconds=1.5)
    waits = []
    w = Watcher(cfg, clock=lambda: fake.now_ms, sleep=waits.append)
    result = w.run_once()
    w.close()
    assert result.ok and result.alerts
    outcomes = [r["outcome"] for r in hook.requests]
    assert outcomes[:3] == ["refused", "refused", "stalled"]
    assert len(hook.accepted) == len(result.alerts)
    assert sorted(b["idempotency_key"] for b in hook.accepted) == \
        sorted(a["idempotency_key"] for a in result.alerts)
    assert waits[:2] == [0.01, 0.02]           # backoff doubles: base 0.01 s
    # a 4th consecutive failure exhausts the 3 attempts: reported, kept pending, retried later
    fake.set_now(fake.start_ms + 40 * HOUR_MS)   # clamps at the truth's end: new closed bars
    hook.fail_next(3, status=503)
    w = Watcher(load_watch_config(write_config(tmp_path / "w.json"), webhooks=[hook.url],
                                  state=tmp_path / "s.json"), clock=lambda: fake.now_ms,
                sleep=lambda s: None)
    failed = w.run_once()
    if failed.alerts:
        assert failed.failed and "HTTP 503" in next(iter(failed.failed.values()))
        assert failed.pending == len(failed.alerts)
        retried = w.run_once()
        assert retried.ok and retried.pending == 0
    w.close()


def test_smtp_refusal_is_reported_and_retried(data_env, fake, smtp, cert, smtp_env, tmp_path,
                                              caplog):
    since = _ts(fake.start_ms).floor("h") - pd.Timedelta(hours=30)
    cfg = load_watch_config(write_config(tmp_path / "w.json", smtp=smtp, cert=cert),
                            state=tmp_path / "s.json", since=since)
    smtp.refuse_next(3, code=451, text="4.3.0 mailbox busy")   # all 3 attempts of the 1st alert
    w = Watcher(cfg, clock=lambda: fake.now_ms, sleep=lambda s: None)
    with caplog.at_level(logging.WARNING, logger="btcflow_nb.watch"):
        first = w.run_once()
    name = next(ch.name for ch in cfg.channels if ch.name.startswith("email"))
    assert "451" in first.failed[name] and "mailbox busy" in first.failed[name]
    assert "451" in caplog.text
    assert first.pending == len(first.alerts) and smtp.messages == []
    smtp.refuse_next(1, code=451)
    second = w.run_once()   # the next cycle retries the pending ones (one refusal, then ok)
    w.close()
    assert second.ok and second.pending == 0
    keys = [m["X-Btcflow-Idempotency-Key"] for m in smtp.messages]
    assert sorted(keys) == sorted(a["idempotency_key"] for a in first.alerts)
    assert [s["outcome"] for s in smtp.sessions].count("refused") == 4
    assert SMTP_PASSWORD not in caplog.text


def test_a_failing_channel_never_blocks_the_others_and_secrets_stay_out(
        data_env, fake, hook, tmp_path, caplog):
    since = _ts(fake.start_ms).floor("h") - pd.Timedelta(hours=30)
    dead = "http://127.0.0.1:1" + SECRET_PATH
    cfg = load_watch_config(write_config(tmp_path / "w.json"),
                            webhooks=[dead, hook.url + SECRET_PATH],
                            jsonl=[tmp_path / "a.jsonl"], state=tmp_path / "s.json", since=since)
    w = Watcher(cfg, clock=lambda: fake.now_ms, sleep=lambda s: None)
    with caplog.at_level(logging.DEBUG):
        result = w.run_once()
    w.close()
    assert result.alerts and list(result.failed) == ["webhook http://127.0.0.1:1 (json)"]
    assert "unreachable" in result.failed["webhook http://127.0.0.1:1 (json)"]
    assert len(hook.accepted) == len(_jsonl(tmp_path / "a.jsonl")) == len(result.alerts)
    state_text = (tmp_path / "s.json").read_text()
    for text in (state_text, caplog.text, json.dumps(result.failed)):
        assert "SECRET" not in text and "xoxb" not in text
    assert json.loads(state_text)["version"] == 1


def test_intrabar_alerts_are_provisional_and_fire_once(data_env, fake, hook, tmp_path):
    bar, now = _bar_with_onset(fake, pd.Timedelta(minutes=59))   # the bar still open
    fake.set_now(now)
    cfg = load_watch_config(write_config(tmp_path / "w.json"), webhooks=[hook.url],
                            state=tmp_path / "s.json", intrabar=True)
    w = Watcher(cfg, clock=lambda: fake.now_ms)
    first, second = w.run_once(), w.run_once()
    provisional = [b for b in hook.accepted if b["provisional"]]
    assert provisional and all(b["bar_open"] == bar.isoformat() for b in provisional)
    assert all("PROVISIONAL" in b["title"] for b in provisional)
    assert second.alerts == []                   # once per bar
    fake.set_now(int((bar + pd.Timedelta(hours=1, minutes=1)).value // 1_000_000))
    closed = w.run_once()
    w.close()
    final = [b for b in hook.accepted if not b["provisional"] and b["bar_open"] == bar.isoformat()]
    # once closed the bar is evaluated again: a distinct key for the confirmed alert
    assert {b["idempotency_key"] for b in final}.isdisjoint(
        {b["idempotency_key"] for b in provisional})
    assert closed.ok and first.ok


def test_between_closes_a_cycle_asks_nothing_and_a_close_one_request_per_series(
        data_env, fake, hook, tmp_path):
    cfg = load_watch_config(write_config(tmp_path / "w.json"), webhooks=[hook.url],
                            state=tmp_path / "s.json")
    w = Watcher(cfg, clock=lambda: fake.now_ms)
    w.run_once()
    fake.clear_log()
    fake.set_now(fake.start_ms + 20 * 60_000)              # later, same hour: no bar closed
    assert w.run_once().ok and fake.log() == []
    fake.set_now(fake.start_ms + HOUR_MS)                  # the next hour: one bar closed
    assert w.run_once().ok
    w.close()
    ohlcv = fake.log(endpoint="ohlcv")
    # one candle request per price series (5 venues + the USDT/USD fx series)
    assert len(ohlcv) == len({(r.exchange_id, r.path, tuple(sorted(r.query.items())))
                              for r in ohlcv}) == len(VENUES) + 1


def test_a_corrupt_state_is_set_aside_and_no_history_is_sent_again(data_env, fake, hook,
                                                                    tmp_path, caplog):
    since = _ts(fake.start_ms).floor("h") - pd.Timedelta(hours=30)
    state = tmp_path / "s.json"

    def watcher():
        cfg = load_watch_config(write_config(tmp_path / "w.json"), webhooks=[hook.url],
                                state=state, since=since)
        return Watcher(cfg, clock=lambda: fake.now_ms)

    w = watcher()
    first = w.run_once().alerts
    w.close()
    latest = _ts(fake.now_ms).floor("h") - pd.Timedelta(hours=1)
    assert any(pd.Timestamp(a["bar_open"]) < latest for a in first)   # history was sent once
    state.write_text(state.read_text()[:100])               # torn by something else
    with caplog.at_level(logging.WARNING, logger="btcflow_nb.watch"):
        w = watcher()
        again = w.run_once()
    w.close()
    aside = list(tmp_path.glob("s.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].name in caplog.text and "set aside" in caplog.text
    assert all(pd.Timestamp(a["bar_open"]) == latest for a in again.alerts)
    assert json.loads(state.read_text())["watermarks"]      # a fresh, valid state


def test_a_stalling_webhook_does_not_hold_up_the_other_channels(data_env, fake, hook, tmp_path):
    since = _ts(fake.start_ms).floor("h") - pd.Timedelta(hours=30)
    cfg = load_watch_config(write_config(tmp_path / "w.json",
                                         retry={"timeout": 0.4, "attempts": 2}),
                            webhooks=[hook.url], jsonl=[tmp_path / "a.jsonl"],
                            state=tmp_path / "s.json", since=since)
    hook.stall_next(2, seconds=1.0)
    w = Watcher(cfg, clock=lambda: fake.now_ms)
    result = w.run_once()
    w.close()
    assert "no answer within 0.4 s" in result.failed["webhook " + hook.url + " (json)"]
    written = (tmp_path / "a.jsonl").stat().st_mtime
    assert len(_jsonl(tmp_path / "a.jsonl")) == len(result.alerts) >= 1
    # every line was written before the webhook's second (timed-out) attempt even arrived
    assert written < hook.requests[1]["time"]


def test_a_venue_failing_at_the_close_has_its_partial_bar_treated_as_missing(
        data_env, fake, tmp_path, caplog):
    """The cycle at mid-hour caches kraken's open bar (a partial close); at the next cycle after
    the close kraken answers 500: that cached bar is not final, so it is masked (carried with
    the other venues), and kraken's last good refresh stays at the mid-hour cycle."""
    cfg = load_watch_config(write_config(tmp_path / "w.json"), jsonl=[tmp_path / "a.jsonl"],
                            state=tmp_path / "s.json")
    w = Watcher(cfg, clock=lambda: fake.now_ms, sleep=lambda s: None)
    start = _ts(fake.now_ms)
    w.run_once()
    fake.set_now(fake.start_ms + HOUR_MS)
    fake.inject("500", exchange_id="kraken", times=None)
    with caplog.at_level(logging.WARNING, logger="btcflow_nb.watch"):
        w.run_once()
    fake.clear_faults()
    w.close()
    partial_bar = start.floor("h")
    assert f"spot:kraken failed to refresh: their bars from {partial_bar.isoformat()}" \
        in caplog.text.replace("venue(s) ", "")
    state = json.loads((tmp_path / "s.json").read_text())
    assert state["refreshed"]["1h"]["spot:kraken"] == start.isoformat()
    assert state["refreshed"]["1h"]["spot:coinbase"] == _ts(fake.now_ms).isoformat()
