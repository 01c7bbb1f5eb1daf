"""The shared conformance checks for ``iceberg`` and ``delta`` (and on S3 with moto).

The check functions are those of ``test_conformance``, imported so that they run here with
this module's ``backend`` fixture; the lakehouse cases are registered in ``lakehouse_kit``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.registry import Registry

from .lakehouse_kit import lakehouse_registry, open_lakehouse_backend
from .test_conformance import (  # noqa: F401 - collected here with this module's fixtures
    hub,
    test_discover_lists_tables_with_columns,
    test_empty_table,
    test_incremental_state_lives_in_the_target,
    test_load_methods_and_idempotent_reruns,
    test_missing_table_and_connection_errors,
    test_numeric_and_json_keep_their_types,
    test_type_zoo_round_trip_is_exact,
    test_unicode_and_hostile_identifiers,
    test_unsupported_values_fail_with_a_clear_message,
    test_wide_table_of_320_columns,
)

#: The S3 kinds (``iceberg_s3``, ``delta_s3``) work too (run them with ``HW_LAKEHOUSE_S3=1``);
#: the suite covers S3 through test_lakehouse_roundtrip's acceptance round trips, to stay
#: inside its time budget.
CONFORMANCE_KINDS = ["iceberg", "delta"] + (
    ["iceberg_s3", "delta_s3"] if os.environ.get("HW_LAKEHOUSE_S3") else []
)

try:
    from tests.connectors.dbkit import require_service
except ImportError:
    from connectors.dbkit import require_service  # type: ignore


@pytest.fixture(scope="module")
def registry() -> Registry:
    return lakehouse_registry()


@pytest.fixture(scope="module", params=CONFORMANCE_KINDS)
def backend(request: Any, tmp_path_factory: Any, registry: Registry) -> Iterator[Any]:
    kind = request.param
    require_service("postgres")
    endpoint = request.getfixturevalue("s3_endpoint") if kind.endswith("_s3") else None
    with open_lakehouse_backend(kind, tmp_path_factory.mktemp(kind), endpoint, registry) as b:
        yield b
