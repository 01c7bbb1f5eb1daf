"""Headwater for Dagster: ``HeadwaterResource`` and ``build_river_assets``.

from dagster import Definitions, EnvVar
from headwater_dagster import HeadwaterResource, build_river_assets

orders = build_river_assets("orders to warehouse", target_tables=["orders", "customers"])
defs = Definitions(
    assets=[orders],
    resources={"headwater": HeadwaterResource(base_url="...", token=EnvVar("HEADWATER_TOKEN"))},
)
"""

from headwater_dagster.assets import build_river_assets
from headwater_dagster.resource import HeadwaterResource

__version__ = "0.1.0"
__all__ = ["HeadwaterResource", "build_river_assets"]
