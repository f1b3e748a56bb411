"""The README's watch section and ``btcflow-nb watch --help`` agree: every flag is documented,
every documented flag exists, and the example config holds every config key and loads."""
from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

from btcflow_nb.alerts import RetrySettings, load_watch_config
from btcflow_nb.alerts.config import _TOP_KEYS
from btcflow_nb.cli import _parser

README = Path(__file__).resolve().parents[2] / "README.md"
EMAIL_KEYS = {"to", "host", "port", "from", "starttls", "username_env", "password_env", "cafile"}
RULE_KEYS = {"alerts", "timeframe", "intrabar", "settings"}


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Alerts: `btcflow-nb watch`")
    return text[start:text.index("\n## ", start + 10)]


def _watch_flags() -> set:
    sub = next(a for a in _parser()._actions if a.dest == "command")
    watch = sub.choices["watch"]
    return {o for a in watch._actions for o in a.option_strings if o.startswith("--")} - {"--help"}


def test_every_flag_of_watch_help_is_in_the_readme_table_and_back():
    table = set(re.findall(r"^\| `(--[a-z-]+)", _section(), flags=re.M))
    flags = _watch_flags()
    assert flags - table == set(), f"flags missing from the README: {sorted(flags - table)}"
    assert table - flags == set(), f"README documents unknown flags: {sorted(table - flags)}"


def test_the_example_config_holds_every_key_and_loads(tmp_path, monkeypatch):
    example = re.search(r"```toml\n(.*?)```", _section(), flags=re.S).group(1)
    data = tomllib.loads(example)
    assert set(data) == set(_TOP_KEYS)
    assert set(data["email"]) == EMAIL_KEYS
    assert set(data["retry"]) == {f.name for f in dataclasses.fields(RetrySettings)}
    assert set(data["rules"][0]) == RULE_KEYS
    assert {"url_env", "format"} <= set(data["webhooks"][0]) and "url = " in example
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x")
    path = tmp_path / "watch.toml"
    path.write_text(example)
    cfg = load_watch_config(path, state=tmp_path / "s.json")
    assert [r.timeframe for r in cfg.rules] == ["1D"] and cfg.every == 60.0
    assert {ch.name.split()[0] for ch in cfg.channels} == {"webhook", "email", "jsonl"}
