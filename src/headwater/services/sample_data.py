"""The sample data set behind the console's "Load the sample data": first data in minutes.

The files are not shipped: they are generated at first use, deterministically from a fixed
seed, into ``sample/`` of the first ``HEADWATER_LOCAL_ROOTS`` folder (``<data dir>/files``),
so the wheel stays small and every install gets byte-for-byte the same rows. A ``local_files``
connection reads them and a river copies them into the embedded DuckDB ``warehouse``; both
are made through the same services as the API (validation, versions, audit), and reused.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from headwater.errors import InvalidInput
from headwater.schemas.connections import ConnectionIn
from headwater.schemas.rivers import RIVER_IN
from headwater.security.crypto import SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.services import connections, rivers
from headwater.services.audit import Actor
from headwater.services.bootstrap import DEFAULT_TARGET_NAME
from headwater.services.envscope import EnvScope
from headwater.store.models import River

SEED = 20260101
CONNECTION_NAME = "sample data"
RIVER_NAME = "Sample data to warehouse"
#: Table -> rows; orders is the big one (a few hundred thousand rows, a few MB of Parquet).
SIZES = {"customers": 5_000, "products": 200, "orders": 250_000}
STATUSES = ("placed", "paid", "shipped", "delivered", "returned")
COUNTRIES = ("FR", "DE", "US", "GB", "JP", "BR", "IN", "ES", "IT", "CA")
WORDS = ("river", "stone", "cedar", "harbor", "maple", "delta", "summit", "meadow", "canyon")


def sample_folder(files_root: Path) -> Path:
    """``sample/`` in the first local root (by default ``<data dir>/files/sample``)."""
    return files_root / "sample"


def _customers(rng: random.Random, count: int) -> pa.Table:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return pa.table(
        {
            "customer_id": pa.array(range(1, count + 1), pa.int64()),
            "name": [
                f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i}"
                for i in range(1, count + 1)
            ],
            "country": [rng.choice(COUNTRIES) for _ in range(count)],
            "signed_up_at": pa.array(
                [start + timedelta(minutes=rng.randrange(0, 700 * 24 * 60)) for _ in range(count)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def _products(rng: random.Random, count: int) -> pa.Table:
    return pa.table(
        {
            "product_id": pa.array(range(1, count + 1), pa.int64()),
            "title": [f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{i}" for i in range(1, count + 1)],
            "price": pa.array(
                [Decimal(rng.randrange(199, 49_999)) / 100 for _ in range(count)],
                pa.decimal128(10, 2),
            ),
        }
    )


def _orders(rng: random.Random, count: int, customers: int, products: int) -> pa.Table:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return pa.table(
        {
            "order_id": pa.array(range(1, count + 1), pa.int64()),
            "customer_id": pa.array([rng.randint(1, customers) for _ in range(count)], pa.int64()),
            "product_id": pa.array([rng.randint(1, products) for _ in range(count)], pa.int64()),
            "quantity": pa.array([rng.randint(1, 5) for _ in range(count)], pa.int32()),
            "status": [STATUSES[rng.randrange(len(STATUSES))] for _ in range(count)],
            "ordered_at": pa.array(
                [start + timedelta(seconds=i * 120 + rng.randrange(0, 120)) for i in range(count)],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def ensure_files(folder: Path) -> dict[str, Path]:
    """The three Parquet files, written once (atomically: a crash leaves no half file)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.parquet" for name in SIZES}
    if all(p.exists() for p in paths.values()):
        return paths
    rng = random.Random(SEED)
    tables = {
        "customers": _customers(rng, SIZES["customers"]),
        "products": _products(rng, SIZES["products"]),
    }
    tables["orders"] = _orders(rng, SIZES["orders"], SIZES["customers"], SIZES["products"])
    for name, table in tables.items():
        partial = paths[name].with_suffix(".parquet.partial")
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, paths[name])
    return paths


def load_sample(
    session: Session,
    box: SecretBox,
    scope: EnvScope,
    actor: Actor,
    now: datetime,
    files_root: Path,
    paths: LocalPathPolicy,
) -> River:
    """The sample river (made on first use, with its connection), ready to run."""
    existing = rivers.find_by_name(session, scope, RIVER_NAME)
    if existing is not None:
        return existing
    target = connections.find_by_name(session, scope, DEFAULT_TARGET_NAME)
    if target is None or target.connection_type != "duckdb":
        raise InvalidInput(
            f"This environment has no DuckDB connection named {DEFAULT_TARGET_NAME!r} (the "
            "embedded warehouse that `headwater up` creates); create one to load the sample"
        )
    folder = sample_folder(files_root)
    ensure_files(folder)
    source = connections.find_by_name(session, scope, CONNECTION_NAME)
    if source is None:
        body = ConnectionIn(
            connection_name=CONNECTION_NAME,
            connection_type="local_files",
            properties={"root": str(folder)},
        )
        source = connections.create_connection(session, box, scope, actor, body, now, paths)
    tables = [{"name": f"{name}.parquet", "details": {"file_format": "parquet"}} for name in SIZES]
    model = RIVER_IN.validate_python(
        {
            "name": RIVER_NAME,
            "type": "src_to_trgt",
            "metadata": {"description": "Orders, customers and products into the warehouse."},
            "properties": {
                "source": {"connection_id": source.id},
                "target": {"connection_id": target.id},
                "schemas": [{"name": "", "tables": tables}],
            },
        }
    )
    return rivers.create_river(session, box, scope, actor, model, now)
