"""Every connection type x every host- or URL-like property x every spelling of loopback.

The connector registry is walked (plugins included), so a connector added later is swept
without being listed here; ``toy_connector`` stands for such a plugin. In ``production`` mode
each case must fail with the policy's message when the connection is opened, and the loopback
listener the values point at must see no connection at all. ``development`` mode is run over
the same harness to show it does see connections when they happen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.connectors.base import ConnectorSpec
from headwater.connectors.errors import ConfigurationError, ConnectorError
from headwater.connectors.registry import Registry
from headwater.security.ssrf import HOST_PROPERTY
from tests.security import toy_connector
from tests.security.outbound_help import Listener, tcp_listener

BLOCKED = "blocked in production mode"
#: Allow-listed by name so filling the other properties needs no DNS; ``.invalid`` never
#: resolves, so nothing could be sent there even if a case were wrongly let through.
FILLER_HOST = "filler.invalid"

HOST_SPELLINGS = (
    "127.0.0.1",
    "localhost",
    "localhost.",
    "LocalHost",
    "app.localhost",
    "127.1",
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "::1",
    "[::1]",
    "::ffff:127.0.0.1",
    "0.0.0.0",
    "169.254.169.254",
    "100.100.100.200",
    "[fe80::1%lo]",
    "2002:7f00:1::",
    "64:ff9b::7f00:1",
)
URL_FORMS = (
    "http://127.0.0.1:{port}/x",
    "https://localhost.:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://2130706433:{port}/",
    "HTTP://0x7f.1:{port}/",
    "postgresql://user@127.0.0.1:{port}/db",
    "mysql://root@[::1]:{port}/db",
)


def _registry() -> Registry:
    registry = Registry.default(plugins=True)
    registry.register(toy_connector.spec())
    return registry


REGISTRY = _registry()


def _cases() -> Iterator[tuple[str, str]]:
    for name in REGISTRY.names():
        for prop in REGISTRY.get(name).properties:
            if prop.type in ("string", "path") and not prop.secret:
                yield name, prop.name


def _props(spec: ConnectorSpec, tmp_path: Path, name: str, value: str, port: int) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for prop in spec.properties:
        if prop.name == name:
            props[name] = value
        elif prop.type in ("string", "path") and HOST_PROPERTY.search(prop.name):
            props[prop.name] = FILLER_HOST
        elif prop.type == "string" and prop.name.endswith("url"):
            props[prop.name] = f"http://{FILLER_HOST}/"
        elif prop.name == "port":
            props[prop.name] = port
        elif prop.name == "max_retries":
            props[prop.name] = 0
        elif prop.required and prop.default is None:
            props[prop.name] = str(tmp_path / "f") if prop.type == "path" else "x"
    return props


def _open_and_test(spec: ConnectorSpec, props: dict[str, Any]) -> None:
    opened: Any = (
        REGISTRY.open_source(spec.name, props)
        if "source" in spec.roles
        else REGISTRY.open_target(spec.name, props)
    )
    try:
        opened.test()
    finally:
        opened.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with tcp_listener() as opened:
        yield opened


@pytest.mark.parametrize(("connector", "prop"), list(_cases()))
def test_production_refuses_every_loopback_spelling_before_connecting(
    connector: str,
    prop: str,
    listener: Listener,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEADWATER_MODE", "production")
    monkeypatch.setenv("HEADWATER_OUTBOUND_ALLOWLIST", FILLER_HOST)
    spec = REGISTRY.get(connector)
    values = [form.format(port=listener.port) for form in URL_FORMS]
    if HOST_PROPERTY.search(prop):
        values += HOST_SPELLINGS
    for value in values:
        with pytest.raises(ConfigurationError, match=BLOCKED):
            _open_and_test(spec, _props(spec, tmp_path, prop, value, listener.port))
    assert listener.settled() == []


def test_the_sweep_covers_the_known_outbound_properties() -> None:
    swept = set(_cases())
    expected = {
        ("postgres", "host"),
        ("mysql", "host"),
        ("s3", "endpoint_url"),
        ("http", "base_url"),
        ("http", "token_url"),
        ("toy_plugin", "server"),
        ("toy_plugin", "dsn"),
        ("toy_plugin", "api_url"),
    }
    assert expected <= swept
    assert len(REGISTRY.names()) >= 8  # every built-in connector plus the toy plugin


@pytest.mark.parametrize(
    ("connector", "prop", "value"),
    [
        ("postgres", "host", "127.0.0.1"),
        ("mysql", "host", "127.0.0.1"),
        ("http", "base_url", "http://127.0.0.1:{port}/"),
        ("toy_plugin", "server", "127.0.0.1"),
        ("toy_plugin", "dsn", "postgresql://u@127.0.0.1:{port}/db"),
    ],
)
def test_development_mode_reaches_the_same_listener(
    connector: str,
    prop: str,
    value: str,
    listener: Listener,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The harness sees connections when they happen (so the sweep above can fail)."""
    monkeypatch.setenv("HEADWATER_MODE", "development")
    spec = REGISTRY.get(connector)
    props = _props(spec, tmp_path, prop, value.format(port=listener.port), listener.port)
    with contextlib.suppress(ConnectorError):  # the listener hangs up: the test fails
        _open_and_test(spec, props)
    assert listener.settled()
