"""The Celery executor with two real worker processes, on Redis and on RabbitMQ."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from headwater.store.engine import make_engine
from headwater.store.models.runs import Run, RunLog
from tests._services import require_service
from tests.live import TOKEN_SCOPES, Api, checksum, fill_table, make_cluster

pytestmark = pytest.mark.slow

BROKERS = {
    "redis": "redis://127.0.0.1:6379/{db}",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}
RIVERS = 4
ROUNDS = 5
ROWS = 20_000


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_twenty_runs_on_two_workers(
    broker: str, tmp_path: Path, pg_databases: dict[str, str]
) -> None:
    require_service(broker)
    url = BROKERS[broker].format(db=1 + uuid.uuid4().int % 15)
    for index in range(RIVERS):
        fill_table(pg_databases["src"], f"t{index}", ROWS)
    cluster = make_cluster(
        tmp_path, pg_databases, HEADWATER_EXECUTOR="celery", HEADWATER_CELERY_BROKER_URL=url
    )
    try:
        _, base = cluster.server(command="server")
        for name in ("w1", "w2"):
            cluster.start(name, "worker", "--concurrency", "1", "--name", f"{name}@test")
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        source = api.pg_connection("src", pg_databases["src"].rsplit("/", 1)[1])
        target = api.pg_connection("dst", pg_databases["dst"].rsplit("/", 1)[1])
        rivers = [
            api.copy_river(f"copy {i}", source, target, {"name": f"t{i}"}) for i in range(RIVERS)
        ]
        run_ids: list[str] = []
        for _ in range(ROUNDS):
            started = [(river, api.run(river)["runs"][0]["run_id"]) for river in rivers]
            for river, run_id in started:
                run = api.wait_run(river, run_id)
                assert run["status"] == "succeeded", run["error_description"]
                assert run["total_rows"] == ROWS
                run_ids.append(run_id)
        api.close()
        assert len(set(run_ids)) == RIVERS * ROUNDS
        for index in range(RIVERS):
            assert checksum(pg_databases["dst"], f"t{index}") == checksum(
                pg_databases["src"], f"t{index}"
            )
        engine = make_engine(pg_databases["meta"])
        with engine.connect() as conn:
            workers = Counter(conn.execute(select(Run.worker).where(Run.id.in_(run_ids))).scalars())
            copies = Counter(
                conn.execute(
                    select(RunLog.run_id).where(
                        RunLog.run_id.in_(run_ids), RunLog.message.like("copying %")
                    )
                ).scalars()
            )
        engine.dispose()
        assert len(workers) == 2, f"both workers should take runs: {workers}"
        assert sum(workers.values()) == RIVERS * ROUNDS
        assert copies == dict.fromkeys(run_ids, 1), "a run executed more than once"
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()
