"""``build_river_assets``: one Dagster asset per target table of a source-to-target river.

Materializing any of them runs the river once (the river loads all its tables together) and
reports each table's run: rows, bytes, units, status and ids as materialization metadata.
Downstream assets depend on the tables by their keys (``[key_prefix..., table]``). A run group
that does not succeed fails the step with each failed run's ``error_description``.
"""

# No ``from __future__ import annotations``: Dagster reads the ``context`` annotation itself.
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from headwater_client import RunFailed, RunGroup

from headwater_dagster.resource import HeadwaterResource


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_") or "river"


def _target_tables(resource: HeadwaterResource | None, river: str) -> list[str]:
    if resource is None:
        raise ValueError("give target_tables, or a resource to read them from the river")
    with resource.get_client() as client:
        tables = client.rivers.get(river).target_tables()
    if not tables:
        raise ValueError(f"river {river!r} has no target tables (is it a source-to-target river?)")
    return tables


def _metadata(group: RunGroup, table: str) -> dict[str, Any]:
    runs = [r for r in group.runs if r.target_name == table]
    run = runs[0] if runs else None
    return {
        "headwater_river_id": group.river_id,
        "headwater_run_group_id": group.run_group_id,
        "headwater_run_id": run.run_id if run else None,
        "status": run.status if run else group.status,
        "rows": MetadataValue.int(run.total_rows if run else 0),
        "bytes": MetadataValue.int(run.total_size if run else 0),
        "units": MetadataValue.float(float(run.units) if run else 0.0),
        "group_units": MetadataValue.float(float(group.units)),
    }


def build_river_assets(
    river: str,
    *,
    target_tables: Sequence[str] | None = None,
    resource: HeadwaterResource | None = None,
    resource_key: str = "headwater",
    key_prefix: Sequence[str] = (),
    group_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> AssetsDefinition:
    """Assets for ``river`` (an id or exact name): one per target table.

    ``target_tables`` names them; without it they are read from the river's definition with
    ``resource`` (a call at definition time).
    """
    tables = list(target_tables) if target_tables else _target_tables(resource, river)
    specs = [
        AssetSpec(
            AssetKey([*key_prefix, table]),
            description=f"Table {table}, loaded by Headwater river {river!r}.",
            group_name=group_name,
            kinds={"headwater"},
            metadata={"headwater_river": river},
        )
        for table in tables
    ]

    @multi_asset(
        name=name or f"headwater_{_slug(river)}",
        specs=specs,
        required_resource_keys={resource_key},
        can_subset=False,
    )
    def _river_assets(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        headwater: HeadwaterResource = getattr(context.resources, resource_key)
        group = headwater.run_river(river, variables)
        context.log.info(f"Headwater run group {group.run_group_id}: {group.status}")
        if not group.ok:
            raise Failure(
                description=str(RunFailed(group)),
                metadata={"headwater_run_group_id": group.run_group_id, "status": group.status},
            )
        for table in tables:
            yield MaterializeResult(
                asset_key=AssetKey([*key_prefix, table]), metadata=_metadata(group, table)
            )

    return _river_assets
