"""A Headwater CDC table job in its own process, so a test can SIGKILL it anywhere.

Usage: ``python -m tests.engine.cdc_worker '<job as JSON>'``; the JSON holds the
``TableJob`` fields, with ``cdc`` as the ``CdcOptions`` fields. Exits 0 once committed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from headwater.engine.jobs import CdcOptions, TableJob
from headwater.engine.pipeline import run_table_job


def job_from_json(text: str) -> TableJob:
    fields: dict[str, Any] = json.loads(text)
    fields["cdc"] = CdcOptions(**fields["cdc"])
    return TableJob(**fields)


def main() -> None:
    result = run_table_job(job_from_json(sys.argv[1]))
    print(json.dumps(dict(result.details)))


if __name__ == "__main__":
    main()
