"""A change capture run's lag and retained-WAL warning ride along in webhook payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from headwater.services.webhook_wire import group_snapshot
from headwater.store.models.runs import Run, RunGroup


def test_cdc_fields_in_the_run_entries_only_when_present() -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    group = RunGroup(
        id="g", account_id="a", environment_id="e", river_id="r", river_type="source_to_target",
        trigger="scheduler", status="succeeded", units=Decimal(0), total_rows=0, total_size=0,
        start_time=now, end_time=now,
    )  # fmt: skip
    group.runs = [
        Run(id="r1", status="succeeded", total_rows=1,
            details={"cdc_lag_seconds": 0.5, "cdc_retained_bytes": 9, "cdc_warning": "keeps 9"}),
        Run(id="r2", status="succeeded", total_rows=1, details={"load_id": "x"}),
    ]  # fmt: skip
    runs = group_snapshot(group)["runs"]
    assert runs[0]["cdc_warning"] == "keeps 9" and runs[0]["cdc_lag_seconds"] == 0.5
    assert "cdc_lag_seconds" not in runs[1]
