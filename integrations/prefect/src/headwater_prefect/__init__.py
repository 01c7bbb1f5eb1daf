"""Headwater for Prefect: a credentials block, tasks and a flow on ``headwater-client``."""

from headwater_prefect.credentials import HeadwaterCredentials
from headwater_prefect.flows import run_river_flow
from headwater_prefect.tasks import cancel_run_group, run_river, trigger_river, wait_for_run_group

__version__ = "0.1.0"
__all__ = [
    "HeadwaterCredentials",
    "cancel_run_group",
    "run_river",
    "run_river_flow",
    "trigger_river",
    "wait_for_run_group",
]
