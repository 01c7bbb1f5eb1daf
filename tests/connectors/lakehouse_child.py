"""A table job run in a child process, for the killed-run tests of test_lakehouse_roundtrip.

Reads one JSON job description on stdin. The source is the faulty PostgreSQL connector (it
pauses between batches), and the Iceberg writer flushes a data file per batch, so the parent
can see data files appear and SIGKILL this process before the commit.
"""

from __future__ import annotations

import json
import sys

from headwater.connectors.lakehouse import iceberg_target
from headwater.engine import TableJob, run_table_job
from tests.engine.faulty import faulty_registry

from .lakehouse_kit import lakehouse_registry


def main() -> None:
    request = json.loads(sys.stdin.read())
    iceberg_target.FLUSH_BYTES = 1  # a data file per batch, so files exist before the commit
    registry = lakehouse_registry()
    for spec in faulty_registry().specs():
        if spec.name.startswith("faulty"):
            registry.register(spec)
    job = TableJob(
        "faulty_pg_arrow",
        {**request["source"], "delay": "0.3"},
        request["kind"],
        request["target"],
        source_table=request["table"],
        target_table=request["table"],
        batch_bytes=1024,
        max_batches_in_flight=1,
        **request["job"],
    )
    run_table_job(job, registry=registry)


if __name__ == "__main__":
    main()
