"""Scrub local details from an executed notebook before it is exported.

An allow-list, not a deny-list: whatever a value is called, it is redacted when it is

* an absolute local path (home, Python prefix, site-packages, temp dir, working directory, the
  notebook's directory): ``~``, ``<python>``, ``<packages>``, ``<tmp>``, ``<cwd>``,
  ``<notebook-dir>``;
* the value of **any** environment variable of this process (the kernel inherits them) at least
  ``_MIN_SECRET_LENGTH`` characters long -- ``DATABASE_URL``'s password as much as
  ``EXCHANGE_API_KEY`` -- except plain words and plain numbers, which occur in any page; a
  variable whose name looks secret (``*KEY*``, ``*SECRET*``, ``*TOKEN*`` ...) is redacted whatever
  its value looks like: ``<NAME>``;
* a string value of btcflow-nb's own configuration file (``$BTCFLOW_NB_CONFIG``: API keys,
  passwords, private server URLs): ``<config:key>``;
* the machine's host name: ``<host>``.

Sources, outputs and widget state are scrubbed; binary widget buffers are left alone.
"""
from __future__ import annotations

import getpass
import json
import os
import re
import site
import socket
import sys
import sysconfig
import tempfile
from pathlib import Path

from .assets import WIDGET_STATE_MIME

_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSW|PASSPHRASE|CREDENTIAL|AUTH|PRIVATE", re.I)
_MIN_SECRET_LENGTH = 6
#: Values that occur in any page: a plain word (``python3`` is not one: it has a digit), a
#: plain number, two words joined by one of ``-_.``.
_PLAIN = re.compile(r"^[A-Za-z]+$|^[A-Za-z]+[-_.][A-Za-z]+$|^\d+$")
_CONFIG_ENV = "BTCFLOW_NB_CONFIG"


def _config_values() -> dict[str, str]:
    """{value: key path} of every string in btcflow-nb's configuration file (JSON or TOML),
    read here directly: render imports nothing of the data layers."""
    path = os.environ.get(_CONFIG_ENV)
    if not path or not os.path.isfile(path):
        return {}
    try:
        raw = Path(path).read_bytes()
        if path.endswith(".toml"):
            import tomllib
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except (OSError, ValueError):
        return {}
    found: dict[str, str] = {}

    def walk(value, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")
        elif isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
            found.setdefault(value, where)

    walk(data, "")
    return found


def _local_replacements(notebook_dir: Path) -> list[tuple[str, str]]:
    """(literal, replacement) pairs, longest literal first, for paths and secrets."""
    pairs: dict[str, str] = {}

    def add(path_like, label: str) -> None:
        if not path_like:
            return
        text = str(path_like).rstrip("/")
        if len(text) > 1:
            pairs.setdefault(text, label)
            real = os.path.realpath(text)
            if real != text and len(real) > 1:
                pairs.setdefault(real, label)

    site_dirs = set(site.getsitepackages()) if hasattr(site, "getsitepackages") else set()
    site_dirs |= {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        site_dirs.add(site.getusersitepackages())
    for directory in site_dirs:
        add(directory, "<packages>")
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        add(prefix, "<python>")
    add(notebook_dir.resolve(), "<notebook-dir>")
    add(Path.cwd(), "<cwd>")
    add(Path.home(), "~")
    add(tempfile.gettempdir(), "<tmp>")
    for name, value in os.environ.items():
        if len(value) < _MIN_SECRET_LENGTH:
            continue
        if _SECRET_NAME.search(name) or not _PLAIN.match(value):
            pairs.setdefault(value, f"<{name}>")
    for value, where in _config_values().items():
        if not _PLAIN.match(value) or _SECRET_NAME.search(where):
            pairs.setdefault(value, f"<config:{where}>")
    return sorted(pairs.items(), key=lambda item: len(item[0]), reverse=True)


_PATH_END = r"(?=$|[/\\\s\"'<>:;,)\]}`|])"
_USER_HOME = re.compile(r"(?:/home|/Users)/[^/\s\"'<>:;,)\]}`|]+|/root" + _PATH_END)


def _redactor(notebook_dir: Path):
    pairs = _local_replacements(notebook_dir)
    user = getpass.getuser()
    pattern = re.compile("|".join(
        re.escape(literal) + (_PATH_END if literal.startswith(("/", "\\")) or ":\\" in literal else "")
        for literal, _ in pairs)) if pairs else None
    lookup = dict(pairs)
    host = socket.gethostname()
    # the host name as a whole name only ("node" must not eat "nodes" or "json-node-7")
    host_pattern = (re.compile(r"(?<![\w.-])" + re.escape(host) + r"(?![\w-])")
                    if len(host) >= 3 else None)

    def redact(text: str) -> str:
        if pattern is not None:
            text = pattern.sub(lambda m: lookup[m.group(0)], text)
        if host_pattern is not None:
            text = host_pattern.sub("<host>", text)
        text = _USER_HOME.sub("~", text)
        if len(user) > 2:
            text = re.sub(r"(?<=[/\\])" + re.escape(user) + _PATH_END, "<user>", text)
        return text

    return redact


def _redact_tree(value, redact):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_tree(item, redact) for item in value]
    if isinstance(value, dict):
        return type(value)((key, _redact_tree(item, redact)) for key, item in value.items())
    return value


def _redact_notebook(nb, notebook_dir: Path) -> None:
    """Scrub sources, outputs and widget state in place (binary buffers are left alone)."""
    redact = _redactor(notebook_dir)
    for cell in nb.cells:
        cell.source = redact(cell.source)  # e.g. a path typed into a cell names its user
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            for key in ("text", "traceback", "evalue"):
                if key in output:
                    output[key] = _redact_tree(output[key], redact)
            if "data" in output:
                for mime, payload in list(output["data"].items()):
                    if mime.startswith("text/") or mime.endswith("json"):
                        output["data"][mime] = _redact_tree(payload, redact)
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    for model in state.values():
        buffers = model.pop("buffers", None)
        model["state"] = _redact_tree(model.get("state", {}), redact)
        if buffers is not None:
            model["buffers"] = buffers
