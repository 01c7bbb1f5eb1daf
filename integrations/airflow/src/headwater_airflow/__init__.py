"""Headwater's provider for Apache Airflow 3.

``HeadwaterRunRiverOperator`` triggers a river and, by default, waits for its run group (in the
triggerer with ``deferrable=True``); ``HeadwaterRunSensor`` waits for a run group started
elsewhere. Both reach Headwater through a ``headwater`` connection (``HeadwaterHook``).
"""

from headwater_airflow.hooks import HeadwaterHook
from headwater_airflow.operators import HeadwaterRunRiverOperator
from headwater_airflow.sensors import HeadwaterRunSensor
from headwater_airflow.triggers import HeadwaterRunTrigger

__version__ = "0.1.0"
__all__ = [
    "HeadwaterHook",
    "HeadwaterRunRiverOperator",
    "HeadwaterRunSensor",
    "HeadwaterRunTrigger",
]
