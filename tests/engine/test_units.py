"""Pure-Python parts of the engine and the registry: no database needed."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from importlib.metadata import EntryPoint
from typing import Any

import pyarrow as pa
import pytest
from rich.console import Console

from headwater.connectors import registry as registry_module
from headwater.connectors.base import Capabilities, Column, ConnectorSpec, PropertySpec
from headwater.connectors.errors import ConfigurationError, MissingDependency
from headwater.connectors.registry import Registry
from headwater.connectors.values import decode_cursor, encode_cursor, parse_start_value
from headwater.engine.boundary import Boundary
from headwater.engine.jobs import TableJob
from headwater.engine.metering import MeteringPolicy, compute_units
from headwater.engine.progress import TableProgress
from headwater.engine.schema import is_widening


def test_metering_formula():
    assert compute_units(0, succeeded=True) == 0.001
    assert compute_units(250_000_000, succeeded=True) == 2.5
    assert compute_units(123_456_789, succeeded=True) == 1.235
    assert compute_units(10**12, succeeded=False) == 0.0
    policy = MeteringPolicy(bytes_per_unit=1000, min_units=1.0)
    assert compute_units(10, succeeded=True, policy=policy) == 1.0
    assert compute_units(2500, succeeded=True, policy=policy) == 2.5


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2024, 1, 2, 3, 4, 5, 1),
        date(2024, 2, 29),
        12345678901234567890,
        Decimal("12345678901234567890.000000000123"),
        "abc",
    ],
)
def test_cursor_values_round_trip_at_full_precision(value: Any):
    text, kind = encode_cursor(value)
    back = decode_cursor(text, kind)
    assert back == value and type(back) is type(value)
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()


def test_start_values_are_parsed_by_cursor_type():
    assert parse_start_value("2024-01-01T00:00:00.000001Z", "timestamp") == datetime(
        2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC
    )
    assert parse_start_value("2024-01-01", "date") == date(2024, 1, 1)
    assert parse_start_value("1700000000", "epoch") == 1700000000
    assert parse_start_value("1.5", "number") == Decimal("1.5")
    with pytest.raises(ConfigurationError, match="not a valid date"):
        parse_start_value("yesterday", "date")


def test_job_validation_messages():
    base: dict[str, Any] = dict(
        source_connector="postgres", source_props={}, target_connector="postgres", target_props={}
    )
    with pytest.raises(ConfigurationError, match="merge key"):
        TableJob(**base, source_table="t", load_method="merge").validate()
    with pytest.raises(ConfigurationError, match="cursor_column"):
        TableJob(**base, source_table="t", extract_method="incremental").validate()
    with pytest.raises(ConfigurationError, match="exactly one"):
        TableJob(**base).validate()
    job = TableJob(
        "postgres", {"password": "s3cr3t"}, "postgres", {}, source_table="t", target_prefix="raw_"
    )
    assert job.target_name() == "raw_t"
    assert "s3cr3t" not in repr(job)


def test_widening_rules():
    def col(arrow_type: pa.DataType, **kw: Any) -> Column:
        return Column("c", "", arrow_type, **kw)

    assert is_widening(col(pa.int32()), col(pa.int64()))
    assert not is_widening(col(pa.int64()), col(pa.int32()))
    assert is_widening(col(pa.int32()), col(pa.decimal128(20, 2)))
    assert is_widening(col(pa.decimal128(10, 2)), col(pa.decimal128(12, 3)))
    assert not is_widening(col(pa.decimal128(10, 2)), col(pa.decimal128(10, 3)))
    assert is_widening(col(pa.string(), max_length=5), col(pa.string(), max_length=10))
    assert is_widening(col(pa.string(), max_length=5), col(pa.string()))
    assert not is_widening(col(pa.string()), col(pa.int64()))


def test_boundary_drops_only_rows_already_loaded():
    schema = pa.schema([("id", pa.int64()), ("at", pa.int64())])
    first = Boundary(1, None, None)
    batch = pa.record_batch([[1, 2, 3], [10, 20, 20]], schema=schema)
    first.observe(batch)
    assert first.value == 20 and first.hashes is not None and len(first.hashes) == 2
    second = Boundary(1, 20, tuple(first.hashes))
    again = pa.record_batch([[2, 3, 4, 5], [20, 20, 20, 21]], schema=schema)
    kept = second.filter(again)
    assert kept.column(0).to_pylist() == [4, 5]


class _Broken:
    def __call__(self) -> Any:
        return "not a spec"


def test_registry_skips_broken_plugins_with_a_logged_warning(monkeypatch, caplog):
    good = ConnectorSpec(
        "plugged",
        "Plugged",
        (PropertySpec("token", "password"),),
        Capabilities(),
        source_class="nowhere.at_all:Source",
    )
    entries = [
        EntryPoint("plugged", f"{__name__}:_good_spec", "headwater.connectors"),
        EntryPoint("broken", f"{__name__}:_Broken", "headwater.connectors"),
        EntryPoint("missing", "no_such_module_hw:spec", "headwater.connectors"),
    ]
    globals()["_good_spec"] = lambda: good
    monkeypatch.setattr(registry_module, "entry_points", lambda group: entries)
    with caplog.at_level(logging.WARNING):
        registry = Registry.default()
    assert "plugged" in registry.names()
    assert "broken" not in registry.names() and "missing" not in registry.names()
    assert any("broken" in r.message for r in caplog.records)
    assert any("missing" in r.message for r in caplog.records)
    catalogue = json.loads(json.dumps(registry.catalogue()))
    plugged = next(c for c in catalogue if c["name"] == "plugged")
    assert plugged["properties"][0]["secret"] is True
    with pytest.raises(MissingDependency, match="pip install nowhere"):
        registry.open_source("plugged", {})
    with pytest.raises(ConfigurationError, match="Unknown connector"):
        registry.get("nope")
    with pytest.raises(ConfigurationError, match="Unknown postgres connection property"):
        registry.open_source(
            "postgres", {"host": "h", "database": "d", "username": "u", "passwrod": "typo"}
        )


def test_progress_display_renders_rows_bytes_and_rate():
    out = io.StringIO()
    console = Console(file=out, width=250, force_terminal=False)
    with TableProgress(["public.events", "public.users"], console=console) as display:
        display.callback("public.events", min_interval=0)(1500, 2_500_000)
        display.done("public.events", 2000, 3_000_000)
        display.failed("public.users", "boom")
    text = out.getvalue()
    assert "public.events" in text and "2,000 rows" in text and "3.0 MB" in text
    assert "failed: boom" in text
