"""Activities building blocks: input vocabularies, and SQL arithmetic equal to Python's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from headwater.errors import Unprocessable
from headwater.schemas.activities import (
    normalize_river_type,
    normalize_sort_by,
    normalize_status,
)
from headwater.schemas.runs import exact_epoch_ms
from headwater.services.activities_sql import Window, dialect_of, epoch_ms, from_micro, units_micro
from headwater.services.bootstrap import BootstrapResult
from headwater.store import migrate
from headwater.store.engine import make_engine
from headwater.store.models import Run
from tests._services import require_service
from tests.api.activities_data import GroupRow, History, RiverRow, RunRow, oid, rid, write
from tests.conftest import create_pg_database, drop_pg_database


@pytest.mark.parametrize(
    ("spelling", "word"),
    [
        ("succeed", "succeeded"),
        ("Succeeded", "succeeded"),
        ("cancelled", "canceled"),
        ("W", "pending"),
        ("E", "failed"),
        (" running ", "running"),
    ],
)
def test_run_status_spellings(spelling: str, word: str) -> None:
    assert normalize_status(spelling, groups=False) == word


def test_group_status_spellings() -> None:
    for spelling in ("partially succeed", "partially_succeeded", "Partially-Succeeded"):
        assert normalize_status(spelling, groups=True) == "partially succeeded"
    with pytest.raises(ValueError, match="unknown status"):
        normalize_status("partially succeed", groups=False)
    with pytest.raises(ValueError, match="unknown status"):
        normalize_status("exploded", groups=True)


def test_river_types_and_sort_keys() -> None:
    assert normalize_river_type("source_to_target") == "src_to_trgt"
    assert normalize_river_type("action") == "actions"
    assert normalize_sort_by("RPUs(Units)") == "units"
    assert normalize_sort_by("RPUs (Units)") == "units"
    assert normalize_sort_by("max_duration") == "max_duration"
    with pytest.raises(ValueError, match="sort_by"):
        normalize_sort_by("name")


def test_window_rejects_an_end_not_after_the_start() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(Unprocessable):
        Window(moment, moment)


MOMENTS = [
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, 0, 1_000, tzinfo=UTC),
    datetime(2026, 12, 31, 0, 0, 0, 999, tzinfo=UTC),
]


def test_sql_epoch_ms_and_unit_sums_are_exact(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    river = RiverRow(oid(), "exact")
    history = History(bootstrap.account_id, bootstrap.environment_id, [river])
    for moment in MOMENTS:
        history.add_group(
            GroupRow(
                rid(),
                river.id,
                "succeeded",
                moment,
                runs=[
                    RunRow(rid(), "succeeded", Decimal("0.1"), duration_ms=1),
                    RunRow(rid(), "succeeded", Decimal("0.2")),
                ],
            )
        )
    with sessions() as session:
        write(session, history)
        dialect = dialect_of(session.get_bind())
        found = session.execute(select(Run.start_time, epoch_ms(Run.start_time, dialect))).all()
        assert {int(ms) for _t, ms in found} == {exact_epoch_ms(m) for m in MOMENTS}
        total = session.scalar(select(units_micro(Run.units)))
        assert from_micro(total) == Decimal("1.2")  # 4 x (0.1 + 0.2), no float residue
        ends = session.execute(
            select(
                epoch_ms(Run.end_time, dialect) - epoch_ms(Run.start_time, dialect),
                Run.duration_ms,
            ).where(Run.end_time.is_not(None))
        ).all()
        assert {tuple(row) for row in ends} == {(1, 1)}  # SQL arithmetic = the stored duration
        assert session.scalar(select(func.count()).select_from(Run)) == 2 * len(MOMENTS)


def test_exact_epoch_ms_floors_without_float_error() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=1)
    assert exact_epoch_ms(moment) - exact_epoch_ms(moment - timedelta(milliseconds=1)) == 1
    assert exact_epoch_ms(datetime(1970, 1, 1, 0, 0, 0, 999, tzinfo=UTC)) == 0


def _filler(column: Any) -> Any:
    """A value for a NOT NULL column of the reflected table, by its type."""
    kind = column["type"].python_type if hasattr(column["type"], "python_type") else str
    return {int: 0, bool: False, Decimal: Decimal(0), dict: "{}", str: "x"}.get(kind, "x")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_0006_backfills_durations(tmp_path: Path, backend: str) -> None:
    """Runs recorded before 0006 get their duration from their times, floored to the ms."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        require_service("postgres")
        url = create_pg_database("hw_act_migr")
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, "0005")
        start = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)
        with engine.begin() as connection:
            for table, values in (
                ("run_groups", {"id": "g" * 32, "start_time": start}),
                (
                    "runs",
                    {
                        "id": "r" * 32,
                        "run_group_id": "g" * 32,
                        "start_time": start,
                        "end_time": start + timedelta(milliseconds=1500),
                    },
                ),
            ):
                columns = inspect(connection).get_columns(table)
                row = {c["name"]: _filler(c) for c in columns if not c["nullable"]}
                row.update(values)
                reflected = Table(table, MetaData(), autoload_with=connection)
                connection.execute(reflected.insert().values(**row))
        migrate.upgrade(engine, "0006")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT duration_ms FROM runs")).scalar_one() == 1500
    finally:
        engine.dispose()
        if backend == "postgres":
            drop_pg_database(url)
