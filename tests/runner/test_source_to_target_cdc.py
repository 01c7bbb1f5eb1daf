"""A river's ``cdc`` tables become table jobs with change capture options: the river's
slot name, its river-wide settings, and the state keys of its other CDC tables (the slot is
released only as far as all of them committed)."""

from __future__ import annotations

from headwater.runner.source_to_target import build_jobs
from headwater.schemas.rivers_s2t import SrcToTrgtRiver

RIVER_ID = "a" * 24


def test_cdc_tables_get_options_and_siblings() -> None:
    model = SrcToTrgtRiver.model_validate(
        {
            "name": "r",
            "type": "source_to_target",
            "properties": {
                "source": {
                    "connection_id": "b" * 24,
                    "cdc": {"mode": "continuous", "commit_seconds": 2, "commit_changes": 50},
                },
                "target": {"connection_id": "c" * 24, "loading_method": "merge"},
                "schemas": [
                    {
                        "name": "public",
                        "tables": [
                            {"name": "a", "details": {"extract_method": "cdc"}},
                            {"name": "b", "details": {"extract_method": "cdc",
                                                      "cdc_history": True}},
                            {"name": "c", "details": {"extract_method": "all",
                                                      "loading_method": "overwrite"}},
                        ],
                    }
                ],
            },
        }
    )  # fmt: skip
    jobs = build_jobs(RIVER_ID, model, ("postgres", {}), ("postgres", {}))
    cdc = [job.cdc for job in jobs.values() if job.cdc is not None]
    assert len(cdc) == 2
    assert {c.name for c in cdc} == {RIVER_ID}
    assert all(c.continuous and c.commit_seconds == 2 and c.commit_changes == 50 for c in cdc)
    assert [c.history for c in cdc] == [False, True]
    keys = {job.state_key for job in jobs.values() if job.cdc is not None}
    assert all(set(c.sibling_state_keys) == keys for c in cdc)
    assert [job.cdc for job in jobs.values() if job.extract_method == "all"] == [None]
