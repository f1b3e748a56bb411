"""Late onsets, retractions, stale venues and permanent refusals, on synthetic hourly data served
by a fetcher that knows only what was known at the watcher's clock (funding events after their
settlement, the open bar's partial close), so every case is deterministic."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

import btcflow_nb as bf
from btcflow_nb.alerts import Watcher, load_watch_config
from btcflow_nb.alerts.cli import status_report
from btcflow_nb.alerts.message import build_alert, text_body
from btcflow_nb.alerts.revisions import mask_unfinal, revision_window, revisions
from btcflow_nb.alerts.rules import Rule, alert_key
from btcflow_nb.alerts.state import WatchState
from btcflow_nb.marketdata import MarketData

DAY = pd.Timestamp("2026-11-20", tz="UTC")
BAR = DAY + pd.Timedelta(hours=13)           # the bar every case is about
SETTLE = DAY + pd.Timedelta(hours=16)        # the 8-hourly funding settlement covering it
END = DAY + pd.Timedelta(hours=22)


def _h(hours, minutes=0):
    return DAY + pd.Timedelta(hours=hours, minutes=minutes)


def synth(*, oi_jump=None, hot_settle=None, spike=None, spike_venue="spot:a"):
    """120 hourly bars to END: two spot and two perp venues, OI, 8-hourly funding events
    (0.005 % per 8 h; 0.05 % at ``hot_settle``), OI +6 % from ``oi_jump`` on, a +400 USD
    spot close at ``spike``."""
    n = 120
    idx = pd.date_range(end=END, periods=n, freq="h", tz="UTC")
    rng = np.random.default_rng(7)
    base = 90000 + np.cumsum(rng.normal(0, 30, n))
    spot = pd.DataFrame({"spot:a": base + rng.normal(0, 3, n),
                         "spot:b": base + rng.normal(0, 3, n)}, index=idx)
    perp = pd.DataFrame({"perp:x": base + 20 + rng.normal(0, 3, n),
                         "perp:y": base + 20 + rng.normal(0, 3, n)}, index=idx)
    if spike is not None:
        spot.loc[spike, spike_venue] += 800
    oi_rows, f_rows = [], []
    settle = pd.date_range(idx[0].floor("8h"), END + pd.Timedelta(hours=16), freq="8h",
                           tz="UTC")
    for v in ("perp:x", "perp:y"):
        oi = 50000 + rng.normal(0, 50, n)
        if oi_jump is not None:
            oi[idx >= oi_jump] += 3000
        oi_rows.append(pd.DataFrame({"venue": v, "time": idx + pd.Timedelta(minutes=59),
                                     "oi_btc": oi, "oi_usd": oi * base}))
        rate = np.where(settle == hot_settle, 0.0005, 0.00005)
        f_rows.append(pd.DataFrame({"venue": v, "time": settle, "rate": rate,
                                    "interval_hours": 8.0}))
    return MarketData.from_frames(spot=spot, perp=perp, funding=pd.concat(f_rows),
                                  open_interest=pd.concat(oi_rows))


def known_at(md, until, errors=None):
    """What a refresh at ``until`` returns: bars opened by then, funding settled by then."""
    f, oi = md.funding, md.open_interest
    out = MarketData.from_frames(spot=md.spot.loc[:until], perp=md.perp.loc[:until],
                                 funding=f[f["time"] <= until],
                                 open_interest=oi[oi["time"] <= until])
    out.meta["errors"] = dict(errors or {})
    return out


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def _watcher(tmp_path, kinds, clock, fetcher, *, intrabar=False, since=None, **kw):
    cfg = load_watch_config(None, jsonl=[tmp_path / "a.jsonl"], state=tmp_path / "s.json",
                            since=since, **kw)
    cfg.rules = [Rule(tuple(kinds), "1h", {"lookback": 48}, intrabar)]
    cfg.retry = type(cfg.retry)(attempts=3, base_delay=0, max_delay=0, timeout=2.0)
    return Watcher(cfg, clock=clock, fetcher=fetcher, sleep=lambda s: None)


def _lines(tmp_path):
    path = tmp_path / "a.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_an_onset_needing_late_funding_is_sent_late_once_with_its_key(tmp_path):
    truth = synth(oi_jump=BAR, hot_settle=SETTLE)
    m_final = bf.flow_metrics(truth, "1h", lookback=48)
    assert m_final.loc[BAR, "overleveraged_onset"]            # the onset, once funding is known
    assert np.isnan(bf.flow_metrics(known_at(truth, _h(14, 1)), "1h",
                                    lookback=48).loc[BAR, "funding"])   # unknown at the close
    clock = Clock(_h(14, 1))
    w = _watcher(tmp_path, ["overleveraged"], clock, lambda v, tf, c, until: known_at(truth, until),
                 since=_h(11))
    for t in (_h(14, 1), _h(15, 1), _h(16, 1), _h(17, 1), _h(18, 1)):
        clock.t = t
        assert w.run_once().ok
    w.close()
    sent = [a for a in _lines(tmp_path) if a["kind"] == "overleveraged"]
    onsets = m_final.loc[_h(11):_h(17), "overleveraged_onset"]
    # every onset of the settled data is sent, each once, all late (funding unknown at close)
    assert sorted(a["bar_open"] for a in sent) == [t.isoformat() for t in onsets.index[onsets]]
    assert all(a["late"] for a in sent)
    alert = next(a for a in sent if a["bar_open"] == BAR.isoformat())
    rule_id = w.config.rules[0].rule_id
    assert alert["bar_open"] == BAR.isoformat() and alert["late"] is True
    assert alert["idempotency_key"] == alert_key(rule_id, "overleveraged", BAR, False)
    assert "LATE" in alert["title"] and "funding settled" in alert["late_reason"]
    assert alert["evaluated_at"] == _h(16, 1).isoformat()   # the first cycle after settlement
    assert "LATE: late data" in text_body(alert)


def test_a_new_watcher_never_sends_history_as_late(tmp_path):
    truth = synth(oi_jump=BAR, hot_settle=SETTLE)
    clock = Clock(_h(16, 1))   # first run after the settlement: only the 15:00 bar
    w = _watcher(tmp_path, ["overleveraged"], clock,
                 lambda v, tf, c, until: known_at(truth, until))
    for t in (_h(16, 1), _h(17, 1)):
        clock.t = t
        w.run_once()
    w.close()
    assert [a for a in _lines(tmp_path) if a["kind"] == "overleveraged"] == []


def test_the_window_is_the_longest_funding_interval():
    md = synth()
    assert revision_window(md) == pd.Timedelta(hours=8)
    empty = MarketData.from_frames(spot=md.spot, perp=md.perp)
    assert revision_window(empty) == pd.Timedelta(hours=8)


def test_a_provisional_alert_whose_onset_is_gone_at_the_close_is_retracted(tmp_path):
    spiked, final = synth(spike=BAR), synth()

    def fetcher(venues, tf, cache, until):   # the open bar's partial close spikes, not its close
        return known_at(spiked if until < BAR + pd.Timedelta(hours=1) else final, until)

    clock = Clock(_h(13, 30))
    w = _watcher(tmp_path, ["premium_high"], clock, fetcher, intrabar=True)
    for t in (_h(13, 30), _h(13, 45), _h(14, 1), _h(15, 1)):
        clock.t = t
        assert w.run_once().ok
    w.close()
    lines = _lines(tmp_path)
    assert [(a["provisional"], bool(a.get("retraction"))) for a in lines] == \
        [(True, False), (False, True)], lines
    prov, notice = lines
    rule_id = w.config.rules[0].rule_id
    assert notice["retracts"] == prov["idempotency_key"] == \
        alert_key(rule_id, "premium_high", BAR, True)
    assert notice["idempotency_key"] == alert_key(rule_id, "premium_high", BAR, True,
                                                  retraction=True)
    assert "RETRACTED" in notice["title"] and "closed without this onset" in \
        notice["retraction_reason"]
    assert notice["evaluated_at"] == _h(14, 1).isoformat()
    assert f"Retracts the alert with idempotency key {prov['idempotency_key']}" in \
        text_body(notice)


def test_a_closed_alert_whose_onset_moved_after_late_data_is_retracted():
    """Funding settled late makes the 13:00 bar the onset: the alert already sent for 14:00
    (a continuation now) is retracted, 13:00 is sent late; a retraction is never repeated."""
    m = bf.flow_metrics(synth(oi_jump=BAR, hot_settle=SETTLE), "1h", lookback=48)
    later = BAR + pd.Timedelta(hours=1)
    sent = build_alert(m, later, "overleveraged", rule_id="r", provisional=False,
                       evaluated_at=_h(15, 1))
    out = revisions(m, "overleveraged", rule_id="r", now=_h(16, 1), watermark=_h(15),
                    first_bar=_h(12), window=pd.Timedelta(hours=8), recorded=[sent], data={})
    by_kind = {("retraction" if a.get("retraction") else "late", a["bar_open"]): a for a in out}
    assert set(by_kind) == {("late", BAR.isoformat()), ("retraction", later.isoformat())}
    notice = by_kind[("retraction", later.isoformat())]
    assert notice["retracts"] == sent["idempotency_key"]
    assert "late data" in notice["retraction_reason"]
    again = revisions(m, "overleveraged", rule_id="r", now=_h(17, 1), watermark=_h(16),
                      first_bar=_h(12), window=pd.Timedelta(hours=8),
                      recorded=[sent, *out], data={})
    assert again == []
    # outside the window nothing is revised any more
    assert revisions(m, "overleveraged", rule_id="r", now=_h(23, 30), watermark=_h(22),
                     first_bar=_h(11), window=pd.Timedelta(hours=8), recorded=[sent],
                     data={}) == []


def test_a_failed_venue_stale_partial_close_never_enters_the_basket(tmp_path):
    """spot:b answered at 13:30 with a partial close (a spike) and fails at 14:01: its cached
    13:00 row is that partial close. The bar is evaluated with spot:b carried from its last final
    close (the stale close is masked), so no premium alert fires on it."""
    spiked, final = synth(spike=BAR, spike_venue="spot:b"), synth()
    assert bf.flow_metrics(spiked, "1h", lookback=48).loc[BAR, "alert_premium_high_onset"]

    def fetcher(venues, tf, cache, until):
        if until < BAR + pd.Timedelta(hours=1):
            return known_at(spiked, until)
        stale = known_at(final, until)
        spot = stale.spot.copy()
        spot.loc[BAR, "spot:b"] = spiked.spot.loc[BAR, "spot:b"]   # its last cached row
        spot.loc[spot.index > BAR, "spot:b"] = np.nan
        md = MarketData.from_frames(spot=spot, perp=stale.perp, funding=stale.funding,
                                    open_interest=stale.open_interest)
        md.meta["errors"] = {"spot:b": "RequestTimeout"}
        return md

    clock = Clock(_h(13, 30))
    w = _watcher(tmp_path, ["premium_high"], clock, fetcher)
    for t in (_h(13, 30), _h(14, 1)):
        clock.t = t
        w.run_once()
    w.close()
    assert [a for a in _lines(tmp_path) if a["bar_open"] == BAR.isoformat()] == []
    refreshed = WatchState(tmp_path / "s.json", read_only=True).refreshed("1h")
    assert refreshed["spot:b"] == _h(13, 30).isoformat()


def test_mask_unfinal_blanks_only_the_failed_venue_after_its_last_good_refresh():
    md = synth()
    out, masked = mask_unfinal(md, ["spot:b"], {"spot:b": _h(13, 30).isoformat()}, None, "1h")
    assert masked == {"spot:b": BAR.isoformat()}
    assert out.spot.loc[BAR:, "spot:b"].isna().all()
    assert out.spot.loc[:BAR - pd.Timedelta(hours=1), "spot:b"].notna().all()
    assert out.spot["spot:a"].equals(md.spot["spot:a"]) and md.spot["spot:b"].notna().all()
    m = bf.flow_metrics(out, "1h", lookback=48)
    assert m.loc[BAR, "spot_venues"] == 2   # carried with spot:a (max_gap), not dropped


def test_a_permanent_refusal_is_dead_lettered_not_retried_and_reported(tmp_path, hook):
    truth = synth(oi_jump=BAR, hot_settle=SETTLE, spike=_h(10))
    clock = Clock(_h(17, 1))
    w = _watcher(tmp_path, ["overleveraged", "premium_high"], clock,
                 lambda v, tf, c, until: known_at(truth, until), since=_h(8),
                 webhooks=[hook.url + "/hooks/secret-token-123456"])
    hook.fail_next(1, status=404)
    result = w.run_once()
    assert len(result.alerts) >= 2 and not result.ok
    (name, key, code, error), = result.dead
    assert name.startswith("webhook http://127.0.0.1:") and code == "HTTP 404"
    assert "permanent" in error and "secret-token" not in error
    n = len(result.alerts)
    assert len(hook.requests) == n           # one try for the refused alert, then the next ones
    d = w.state.delivery(key, next(c for c in w.channels if c.startswith("webhook")))
    assert d["status"] == "dead" and d["code"] == "HTTP 404" and d["attempts"] == 1
    assert w.run_once().ok and len(hook.requests) == n    # never retried automatically
    text, status = status_report(w.state)
    assert status == 1 and "DEAD webhook http://127.0.0.1:" in text and "HTTP 404" in text
    assert "secret-token" not in text
    from btcflow_nb.cli import main

    assert main(["watch", "--status", "--state", str(tmp_path / "s.json")]) == 1
    assert w.state.requeue_dead() == 1
    assert w.run_once().ok and len(hook.requests) == n + 1   # after --requeue-dead: sent
    assert status_report(w.state)[1] == 0
    w.close()


def test_webhook_and_smtp_codes_are_classified():
    from btcflow_nb.alerts.channels import _recipients_refused, webhook_status_is_permanent

    assert [webhook_status_is_permanent(c) for c in (400, 401, 403, 404, 410, 408, 429, 500,
                                                     503)] == [True] * 5 + [False] * 4
    assert _recipients_refused("e", {"a@x": (550, b"no such user")}).permanent
    assert not _recipients_refused("e", {"a@x": (450, b"busy"), "b@x": (550, b"no")}).permanent


def test_smtp_5xx_is_permanent_4xx_temporary(tmp_path, smtp, cert, smtp_env, monkeypatch):
    monkeypatch.setenv("BTCFLOW_NB_SMTP_HOST", smtp.host)
    monkeypatch.setenv("BTCFLOW_NB_SMTP_PORT", str(smtp.port))
    truth = synth(oi_jump=BAR, hot_settle=SETTLE)
    clock = Clock(_h(17, 1))
    cfg_kw = dict(emails=["desk@example.com"])
    w = _watcher(tmp_path, ["overleveraged"], clock,
                 lambda v, tf, c, until: known_at(truth, until), since=_h(12), **cfg_kw)
    mail = next(ch for ch in w.channels.values() if ch.name.startswith("email"))
    mail.cafile = str(cert[0])
    smtp.refuse_next(1, code=451, text="4.3.0 busy")    # temporary: retried, then delivered
    smtp.refuse_next(1, code=554, text="5.7.1 message rejected")   # permanent
    result = w.run_once()
    assert [d[2] for d in result.dead] == ["SMTP 554"]
    assert [s["outcome"] for s in smtp.sessions].count("refused") == 2
    assert len(smtp.messages) == len(result.alerts) - 1
    w.close()


def test_status_of_an_empty_state(tmp_path):
    text, status = status_report(WatchState(tmp_path / "none.json", read_only=True))
    assert status == 0 and "0 dead-lettered" in text


def test_a_state_written_before_evaluated_from_looks_for_late_onsets_from_its_watermark(
        tmp_path):
    truth = synth(oi_jump=BAR, hot_settle=SETTLE)
    fetch = lambda v, tf, c, until: known_at(truth, until)   # noqa: E731
    clock = Clock(_h(14, 1))
    w = _watcher(tmp_path, ["overleveraged"], clock, fetch, since=_h(11))
    w.run_once()
    w.close()
    path = tmp_path / "s.json"
    old = json.loads(path.read_text())
    del old["evaluated_from"], old["refreshed"]    # as an earlier watch wrote it
    path.write_text(json.dumps(old))
    w = _watcher(tmp_path, ["overleveraged"], clock, fetch)
    for t in (_h(15, 1), _h(16, 1), _h(17, 1)):
        clock.t = t
        w.run_once()
    w.close()
    sent = [a["bar_open"] for a in _lines(tmp_path) if a["kind"] == "overleveraged"]
    assert sent == [BAR.isoformat()]   # from the old watermark (13:00) on, not the 11:00 bar
