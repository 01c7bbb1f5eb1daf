"""The copy engine: run table jobs from any source connector to any target connector."""

from headwater.engine.jobs import TableJob, TableResult
from headwater.engine.metering import MeteringPolicy, compute_units
from headwater.engine.pipeline import run_table_job

__all__ = ["MeteringPolicy", "TableJob", "TableResult", "compute_units", "run_table_job"]
