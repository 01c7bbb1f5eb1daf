"""Billing units from bytes moved.

``units = max(min_units, bytes / bytes_per_unit)`` rounded to 3 decimals; a failed or
cancelled run costs 0. The defaults (100 MB per unit, 0.001 minimum) are changed per
installation with the ``HEADWATER_UNITS_*`` settings: the runner builds a
:class:`MeteringPolicy` from them and passes it to every table job (the engine itself reads no
settings).

API sources in source-to-target rivers (``Capabilities.metering == "per_execution"``, e.g. the
``http`` connector) cost ``api_units_per_table`` per successful run of one target table,
whatever the volume, the same rate as action rivers: their cost to operate is the requests and
the waiting on rate limits, not the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeteringPolicy:
    bytes_per_unit: int = 100 * 1000 * 1000
    min_units: float = 0.001
    decimals: int = 3
    #: API sources (action rivers) are not charged by bytes: a flat amount per execution and
    #: per target table the execution loads (at least one table's worth per execution).
    api_units_per_table: float = 0.01


DEFAULT_POLICY = MeteringPolicy()


def compute_units(
    bytes_moved: int,
    *,
    succeeded: bool,
    policy: MeteringPolicy = DEFAULT_POLICY,
    per_execution: bool = False,
) -> float:
    """Units charged for a run that moved ``bytes_moved`` bytes (or one execution)."""
    if not succeeded:
        return 0.0
    if per_execution:
        return round(policy.api_units_per_table, policy.decimals)
    if bytes_moved < 0:
        raise ValueError("bytes_moved cannot be negative")
    raw = max(policy.min_units, bytes_moved / policy.bytes_per_unit)
    return round(raw, policy.decimals)


def compute_api_units(
    target_tables: int, *, succeeded: bool, policy: MeteringPolicy = DEFAULT_POLICY
) -> float:
    """Units charged for one execution of an API (action) request loading ``target_tables``."""
    if not succeeded:
        return 0.0
    if target_tables < 0:
        raise ValueError("target_tables cannot be negative")
    return round(policy.api_units_per_table * max(1, target_tables), policy.decimals)
