"""The data-flow builder without a browser: form <-> river body, error locations -> fields, the
schedule preview, and the same 422 messages as the API for the same body."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from markupsafe import escape
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.services.discovery import ColumnView, TableView
from headwater.web.builder_form import (
    BuilderState,
    TableChoice,
    build_body,
    field_errors,
    state_from_definition,
    state_from_form,
)
from headwater.web.builder_schedule import next_fires
from tests.api.rivers_help import create_connection, env_path
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import page_csrf, sign_in

SOURCE = "a" * 24
TARGET = "b" * 24


def _tables() -> list[TableView]:
    def col(name: str, kind: str | None, key: bool = False) -> ColumnView:
        return ColumnView(name, "t", "T", key, kind)

    return [
        TableView("public", "customers", (col("id", "number", True), col("name", "string"))),
        TableView("public", "orders", (col("id", "number", True), col("at", "timestamp"))),
        TableView("public", "products", (col("id", "number", True),)),
    ]


def _state() -> BuilderState:
    return BuilderState(
        values={"name": "shop", "source_id": SOURCE, "target_id": TARGET, "cron": "0 6 * * *"},
        tables={
            "customers": TableChoice("customers", "public", True, "merge", ["id"]),
            "orders": TableChoice(
                "orders", "public", True, "append", extract="incremental", cursor="at", start="1"
            ),
            "products": TableChoice("products", "public", False),
        },
    )


def test_the_body_is_the_api_body_and_reads_back_into_the_same_form() -> None:
    built = build_body(_state(), _tables())
    tables = built.body["properties"]["schemas"][0]["tables"]
    assert [t["name"] for t in tables] == ["customers", "orders"]  # products not selected
    assert tables[0]["details"]["modified_columns"] == [{"name": "id", "is_key": True}]
    orders = tables[1]["details"]
    assert orders["incremental_field"] == "at" and orders["incremental_type"] == "timestamp"
    assert built.places == {(0, 0): "t0", (0, 1): "t1"}  # body position -> form row
    again = state_from_definition(built.body)
    assert again.tables["orders"].cursor == "at" and again.tables["customers"].keys == ["id"]
    assert again.get("cron") == "0 6 * * *"


def test_column_selection_round_trips_and_keeps_saved_renames() -> None:
    state = _state()
    state.tables["customers"].columns_off = ["name"]
    saved = build_body(state, _tables()).body
    saved["properties"]["schemas"][0]["tables"][0]["details"]["modified_columns"].append(
        {"name": "email", "target_name": "mail"}
    )
    form = {"t0_name": "customers", "t0_sel": "on", "table_count": "1"}
    lists = {"t0_colall": ["id", "name"], "t0_col": ["id", "name"], "t0_keys": ["id"]}
    again = state_from_form(form, lambda key: lists.get(key, []))
    assert again.tables["customers"].columns_off == []  # every box ticked again
    lists["t0_col"] = ["id"]
    edited = state_from_form(form, lambda key: lists.get(key, []))
    assert edited.tables["customers"].columns_off == ["name"]
    body = build_body(edited, _tables(), keep=saved).body
    columns = body["properties"]["schemas"][0]["tables"][0]["details"]["modified_columns"]
    assert columns == [
        {"name": "id", "is_key": True},
        {"name": "name", "is_selected": False},
        {"name": "email", "target_name": "mail"},
    ]
    assert state_from_definition(body).tables["customers"].columns_off == ["name"]


def test_api_error_locations_land_on_their_fields() -> None:
    places = {(0, 0): "t0", (0, 1): "t2", (0, 2): "q"}
    errors = field_errors(
        [
            (("body", "properties", "schemas", 0, "tables", 0, "details", "modified_columns"), "k"),
            (("body", "properties", "schemas", 0, "tables", 1, "details"), "row"),
            (("body", "properties", "schemas", 0, "tables", 2), "sql"),
            (("body", "schedulers", 0, "cron_expression"), "cron"),
            (("properties", "target", "connection_id"), "target"),
            (("body", "no", "such"), "other"),
        ],
        places,
    )
    assert errors == {
        "t0_keys": "k",
        "t2": "row",
        "q_sql": "sql",
        "cron": "cron",
        "target_id": "target",
        "form": "other",
    }


def test_next_five_fire_times_in_the_chosen_zone() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    fires = next_fires("0 6 * * *", now)
    assert fires[0] == "Tue 2026-01-06 06:00 UTC" and len(fires) == 5
    # The cron is read in the zone: 06:00 in Paris is 05:00 UTC in winter.
    assert next_fires("0 6 * * *", now, "Europe/Paris")[0] == "Tue 2026-01-06 06:00 CET (05:00 UTC)"
    assert next_fires("61 * * * *", now) == []
    assert next_fires("0 6 * * *", now, "Not/AZone") == []  # the save names the zone


pytestmark = pytest.mark.anyio


async def test_an_invalid_form_gets_the_messages_the_api_gives(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, sessions: sessionmaker[Session]
) -> None:
    minted = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    connection_id = await create_connection(client, bootstrap, minted.headers)
    body = {
        "name": "bad schedule",
        "type": "src_to_trgt",
        "properties": {
            "source": {"connection_id": connection_id},
            "target": {"connection_id": connection_id},
            "schemas": [{"name": "", "tables": [{"query": "select 1 as x", "details": {}}]}],
        },
        "schedulers": [{"cron_expression": "61 * * * *"}],
    }
    api = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=minted.headers)
    assert api.status_code == 422
    messages = {tuple(e["loc"][1:]): e["msg"] for e in api.json()["detail"]}

    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    csrf = await page_csrf(client, f"{base}/rivers/new")
    form = {
        "csrf_token": csrf,
        "action": "save",
        "name": "bad schedule",
        "source_id": connection_id,
        "target_id": connection_id,
        "q_sql": "select 1 as x",
        "cron": "61 * * * *",
    }
    page = await client.post(f"{base}/rivers/new", data=form)
    assert page.status_code == 422
    cron_message = messages[("schedulers", 0, "cron_expression")]
    assert f'id="e-cron" role="alert">{escape(cron_message)}' in page.text
    query_message = messages[("properties", "schemas", 0, "tables", 0)]
    assert f'id="e-q_sql" role="alert">{escape(query_message)}' in page.text
    assert 'name="cron" value="61 * * * *"' in page.text  # kept as typed

    form.update(cron="0 6 * * *", q_target="answer")
    saved = await client.post(f"{base}/rivers/new", data=form)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=created")
    preview = await client.get(f"{base}/rivers/schedule.json", params={"cron": "0 * * * *"})
    assert len(preview.json()["fires"]) == 5


def test_file_tables_get_the_format_their_name_implies() -> None:
    files = [TableView(None, "orders.csv.gz", ()), TableView(None, "notes.txt", ())]
    state = BuilderState(
        values={"source_id": SOURCE, "target_id": TARGET},
        tables={
            "orders.csv.gz": TableChoice("orders.csv.gz", selected=True),
            "notes.txt": TableChoice("notes.txt", selected=True),
        },
    )
    tables = build_body(state, files, file_tables=True).body["properties"]["schemas"][0]["tables"]
    assert tables[0]["details"]["file_format"] == "csv"
    assert "file_format" not in tables[1]["details"]  # the API asks for it, beside the row


def test_partition_by_is_typed_as_text_and_round_trips() -> None:
    form = {  # orders is the second table the source shows: row t1
        "t1_name": "orders",
        "t1_sel": "on",
        "t1_partition": " day(at), bucket(16, id) ",
        "table_count": "2",
    }
    state = state_from_form(form, lambda key: [])
    built = build_body(state, _tables())
    details = built.body["properties"]["schemas"][0]["tables"][0]["details"]
    assert details["partition_by"] == ["day(at)", "bucket(16, id)"]
    assert state_from_definition(built.body).tables["orders"].partition == "day(at), bucket(16, id)"
    loc = ("body", "properties", "schemas", 0, "tables", 0, "details", "partition_by", 0)
    assert field_errors([(loc, "bad")], built.places) == {"t1_partition": "bad"}
