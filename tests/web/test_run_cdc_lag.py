"""The console's run page shows a change capture run's lag beside its size."""

from __future__ import annotations

from headwater.web.runs import cdc_lag


def test_lag_text_only_for_change_capture_runs() -> None:
    assert cdc_lag({}) == ""
    assert cdc_lag({"cdc_lag_seconds": 1.25, "cdc_lag_bytes": 0}) == "lag 1.2 s"
    assert cdc_lag({"cdc_lag_seconds": 3, "cdc_lag_bytes": 2048}) == "lag 3.0 s, 2.0 KB behind"
