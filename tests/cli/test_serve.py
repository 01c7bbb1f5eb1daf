"""The API process's garbage-collector tuning (``headwater up`` / ``server --workers N``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.cli.serve import app_from_environment, tune_gc
from headwater.settings import Settings


@pytest.fixture
def gc_state() -> Iterator[tuple[int, int, int]]:
    """The interpreter's collector as it was, given back after the test."""
    before = gc.get_threshold()
    gc.unfreeze()
    yield before
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_objects_of_a_started_app_are_frozen_and_the_young_collected_less_often(
    gc_state: tuple[int, int, int], tmp_path: Path
) -> None:
    assert gc.get_freeze_count() == 0
    tune_gc(Settings(data_dir=tmp_path, api_gc_threshold=12_345))
    assert gc.get_threshold() == (12_345, 20, 100)
    assert gc.get_freeze_count() > 10_000  # every module, class and function loaded so far
    gc.unfreeze()
    gc.set_threshold(*gc_state)
    tune_gc(Settings(data_dir=tmp_path, api_gc_threshold=0))
    assert gc.get_threshold() == gc_state and gc.get_freeze_count() > 10_000


def test_each_process_of_server_workers_tunes_its_collector(
    gc_state: tuple[int, int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HEADWATER_DATABASE_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("HEADWATER_API_GC_THRESHOLD", "4321")
    app = app_from_environment()
    try:
        assert gc.get_threshold()[0] == 4321 and gc.get_freeze_count() > 10_000
    finally:
        app.state.engine.dispose()
