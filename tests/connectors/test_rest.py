"""The ``http`` source against a real HTTP API served on loopback (uvicorn in a thread).

The API paginates four ways, answers 429 with ``Retry-After`` and one 500 in the middle of a
pagination, and checks every auth style, so the tests prove that no record is lost or read
twice and that credentials go where they should.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from headwater.connectors.errors import JobFailed
from headwater.engine import TableJob, run_table_job

ITEMS = [
    {
        "id": i,
        "name": f"item {i}",
        "updated_at": f"2024-01-{1 + i // 10:02d}T00:00:{i % 60:02d}Z",
        "owner": {"login": f"user{i % 3}", "site": {"country": "NL"}},
        "tags": ["a", str(i)],
    }
    for i in range(57)
]


class Faults:
    """Per-test switches: which requests fail, and what the server saw."""

    def __init__(self) -> None:
        self.rate_limit_pages: set[int] = set()
        self.fail_pages: set[int] = set()
        self.seen: list[dict[str, Any]] = []
        self.retry_after = "1"

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


FAULTS = Faults()


def _page_items(request: Request) -> list[dict[str, Any]]:
    since = request.query_params.get("updated_since")
    return [i for i in ITEMS if since is None or i["updated_at"] >= since]


def _fault(number: int, request: Request) -> Response | None:
    FAULTS.seen.append({**dict(request.query_params), "path": request.url.path, "page": number})
    if number in FAULTS.rate_limit_pages:
        FAULTS.rate_limit_pages.discard(number)
        return JSONResponse(
            {"error": "slow down"}, 429, headers={"Retry-After": FAULTS.retry_after}
        )
    if number in FAULTS.fail_pages:
        FAULTS.fail_pages.discard(number)
        return JSONResponse({"error": "boom"}, 500)
    return None


def _auth_ok(request: Request) -> bool:
    headers = request.headers
    basic = base64.b64encode(b"ann:s3cret").decode()
    return (
        headers.get("authorization") in (f"Basic {basic}", "Bearer tok-123", "Bearer oauth-tok")
        or headers.get("x-api-key") == "key-1"
        or request.query_params.get("api_key") == "key-1"
    )


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items")
    def by_page(request: Request, page: int = 1, per_page: int = 10) -> Response:
        if (fault := _fault(page, request)) is not None:
            return fault
        items = _page_items(request)
        chunk = items[(page - 1) * per_page : page * per_page]
        return JSONResponse({"data": {"items": chunk}, "page": page})

    @app.get("/offset")
    def by_offset(request: Request, offset: int = 0, limit: int = 10) -> Response:
        if (fault := _fault(offset // limit + 1, request)) is not None:
            return fault
        return JSONResponse(_page_items(request)[offset : offset + limit])

    @app.get("/cursor")
    def by_cursor(request: Request, cursor: int = 0) -> Response:
        if (fault := _fault(cursor // 20 + 1, request)) is not None:
            return fault
        chunk = ITEMS[cursor : cursor + 20]
        following = cursor + 20 if cursor + 20 < len(ITEMS) else None
        return JSONResponse({"results": chunk, "meta": {"next": following}})

    @app.get("/linked")
    def by_link(request: Request, page: int = 1) -> Response:
        if (fault := _fault(page, request)) is not None:
            return fault
        chunk = ITEMS[(page - 1) * 25 : page * 25]
        headers = {}
        if page * 25 < len(ITEMS):
            headers["Link"] = f'<{request.url.path}?page={page + 1}>; rel="next"'
        return JSONResponse(chunk, headers=headers)

    @app.get("/secure")
    def secure(request: Request) -> Response:
        _fault(1, request)
        if not _auth_ok(request):
            return JSONResponse({"error": "who are you"}, 401)
        return JSONResponse([{"id": 1}])

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = (await request.body()).decode()
        basic = base64.b64encode(b"cid:csecret").decode()
        if request.headers.get("authorization") != f"Basic {basic}" or (
            "grant_type=client_credentials" not in form
        ):
            return JSONResponse({"error": "invalid_client"}, 401)
        return JSONResponse({"access_token": "oauth-tok", "expires_in": 3600})

    @app.post("/search")
    async def search(request: Request) -> Response:
        body = json.loads(await request.body())
        _fault(1, request)
        FAULTS.seen[-1]["body"] = body
        return JSONResponse({"hits": [i for i in ITEMS if i["id"] < body.get("limit", 5)]})

    return app


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        make_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(autouse=True)
def faults() -> Faults:
    FAULTS.reset()
    return FAULTS


def _load(
    tmp_path: Path, api_url: str, options: dict[str, Any], **kwargs: Any
) -> tuple[Any, pa.Table, list[str]]:
    props = {"base_url": api_url, "max_retries": 3, "timeout_seconds": 5}
    props.update(kwargs.pop("props", {}))
    logs: list[str] = []
    job = TableJob(
        "http",
        props,
        "local_files",
        {"root": str(tmp_path)},
        source_table=kwargs.pop("table", "items"),
        target_table="out",
        source_options=options,
        **kwargs,
    )
    result = run_table_job(job, log=lambda level, message: logs.append(message))
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    tables = [pq.read_table(tmp_path / "out" / f["name"]) for f in manifest["files"]]
    return result, pa.concat_tables(tables) if tables else pa.table({}), logs


PAGE = {"type": "page", "page_param": "page", "size_param": "per_page", "page_size": 10}


def test_page_numbers_survive_429_and_a_500_mid_pagination(
    tmp_path: Path, api_url: str, faults: Faults
) -> None:
    faults.rate_limit_pages = {2}
    faults.fail_pages = {4}
    started = time.monotonic()
    result, table, logs = _load(
        tmp_path, api_url, {"records_path": "$.data.items", "pagination": PAGE}
    )
    ids = table.column("id").to_pylist()
    assert len(ids) == len(ITEMS) and sorted(ids) == [i["id"] for i in ITEMS]
    assert result.rows == len(ITEMS)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    # page 1 once for the schema, then every page in order; 2 and 4 are asked twice
    assert [s["page"] for s in faults.seen] == [1, 1, 2, 2, 3, 4, 4, 5, 6]
    assert any("HTTP 429; retrying in 1.0 s" in m for m in logs)
    assert any("HTTP 500; retrying" in m for m in logs)
    assert result.units == pytest.approx(0.01)  # per execution per table, not by bytes
    owner = json.loads(table.column("owner")[0].as_py())
    assert owner == {"login": "user0", "site": {"country": "NL"}}


@pytest.mark.parametrize(
    ("table", "options"),
    [
        ("offset", {"pagination": {"type": "offset", "page_size": 10}}),
        ("cursor", {"pagination": {"type": "cursor", "cursor_path": "$.meta.next"}}),
        ("linked", {"pagination": "link"}),
    ],
)
def test_offset_cursor_and_link_pagination(
    tmp_path: Path, api_url: str, faults: Faults, table: str, options: dict[str, Any]
) -> None:
    faults.retry_after = "0"
    faults.rate_limit_pages = {2}
    faults.fail_pages = {3}
    _, loaded, _ = _load(tmp_path, api_url, options, table=table)
    assert sorted(loaded.column("id").to_pylist()) == [i["id"] for i in ITEMS]


def test_flatten_types_and_incremental_parameter(tmp_path: Path, api_url: str) -> None:
    options = {
        "path": "/items",
        "records_path": "data.items",
        "pagination": PAGE,
        "nested": "flatten",
        "columns": {"updated_at": "timestamptz"},
        "incremental_param": "updated_since",
        "primary_key": ["id"],
    }
    kwargs: dict[str, Any] = {
        "table": "things",
        "extract_method": "incremental",
        "cursor_column": "updated_at",
        "cursor_type": "timestamp",
        "load_method": "append",
    }
    result, table, _ = _load(tmp_path, api_url, options, **kwargs)
    assert table.column_names == [
        "id",
        "name",
        "updated_at",
        "owner__login",
        "owner__site__country",
        "tags",
    ]
    assert table.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert result.cursor_value == "2024-01-06T00:00:56.000000+00:00"
    FAULTS.seen.clear()
    again, table, _ = _load(tmp_path, api_url, options, **kwargs)
    assert again.rows == 0 and len(table) == len(ITEMS)
    assert "updated_since" not in FAULTS.seen[0]  # the schema probe
    assert FAULTS.seen[1]["updated_since"].startswith("2024-01-06T00:00:56")


@pytest.mark.parametrize(
    "props",
    [
        {"auth_type": "basic", "username": "ann", "password": "s3cret"},
        {"auth_type": "bearer", "token": "tok-123"},
        {"auth_type": "api_key", "api_key": "key-1"},
        {
            "auth_type": "api_key",
            "api_key": "key-1",
            "api_key_in": "query",
            "api_key_name": "api_key",
        },
        {
            "auth_type": "oauth2_client_credentials",
            "client_id": "cid",
            "client_secret": "csecret",
            "token_url": "TOKEN",
        },
    ],
)
def test_auth_styles(tmp_path: Path, api_url: str, props: dict[str, Any]) -> None:
    if props.get("token_url") == "TOKEN":
        props = {**props, "token_url": f"{api_url}/token"}
    result, _, _ = _load(tmp_path, api_url, {}, table="secure", props=props)
    assert result.rows == 1


def test_wrong_credentials_fail_without_leaking_them(tmp_path: Path, api_url: str) -> None:
    props = {
        "auth_type": "api_key",
        "api_key": "wrong-key",
        "api_key_in": "query",
        "api_key_name": "api_key",
    }
    with pytest.raises(JobFailed) as caught:
        _load(tmp_path, api_url, {}, table="secure", props=props)
    assert "HTTP 401" in str(caught.value) and "wrong-key" not in str(caught.value)
    assert not caught.value.transient


def test_post_body_and_retries_exhausted(tmp_path: Path, api_url: str, faults: Faults) -> None:
    _, table, _ = _load(
        tmp_path,
        api_url,
        {"method": "POST", "body": {"limit": 3}, "records_path": "hits"},
        table="search",
    )
    assert table.column("id").to_pylist() == [0, 1, 2]
    assert faults.seen[-1]["body"] == {"limit": 3}
    faults.fail_pages = {1}
    with pytest.raises(JobFailed, match="HTTP 500 after 1 attempt") as caught:
        _load(tmp_path, api_url, {"pagination": PAGE}, props={"max_retries": 0})
    assert caught.value.transient
