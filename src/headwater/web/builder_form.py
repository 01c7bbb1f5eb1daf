"""The data-flow builder's form, both ways: posted fields -> the API's river body, a saved river
-> fields, and the API's error locations -> the form field each one concerns.

Nothing here decides what a valid river is: the body goes to the same ``RIVER_IN`` model and
``services.rivers`` as ``POST .../rivers``, and their messages are shown next to the field the
location names, so the console and the API can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headwater.connectors.partitioning import split_partition_text
from headwater.services.discovery import TableView

LOAD_METHODS = ("overwrite", "append", "merge")
EXTRACT_METHODS = ("all", "incremental", "cdc")
#: Detail field -> the suffix of the form field that edits it.
DETAIL_FIELDS = {
    "loading_method": "load",
    "modified_columns": "keys",
    "extract_method": "extract",
    "incremental_field": "cursor",
    "incremental_type": "cursor",
    "start_value": "start",
    "target_table": "target",
    "partition_by": "partition",
}
TOP_FIELDS = {
    ("name",): "name",
    ("metadata", "description"): "description",
    ("properties", "source"): "source_id",
    ("properties", "source", "connection_id"): "source_id",
    ("properties", "target", "connection_id"): "target_id",
    ("properties", "target", "schema_name"): "target_schema",
    ("properties", "target", "table_prefix"): "table_prefix",
    ("properties", "target", "loading_method"): "target_schema",
    ("properties", "schemas"): "tables",
    ("schedulers",): "cron",
    ("schedulers", 0, "timezone"): "timezone",
    ("notifications", "on_failure", "emails"): "fail_emails",
    ("notifications", "on_success", "emails"): "ok_emails",
}


@dataclass
class TableChoice:
    """One table's settings as the form shows them."""

    name: str
    schema: str = ""
    selected: bool = False
    load: str = "overwrite"
    keys: list[str] = field(default_factory=list)
    extract: str = "all"
    cursor: str = ""
    start: str = ""
    target: str = ""
    #: Columns left out of the copy (``modified_columns`` entries with ``is_selected: false``).
    columns_off: list[str] = field(default_factory=list)
    #: ``partition_by`` as typed: comma-separated fields (``day(created_at), bucket(16, id)``).
    partition: str = ""


@dataclass
class BuilderState:
    """Everything the form holds; strings as typed, so a failed save shows them unchanged."""

    values: dict[str, str] = field(default_factory=dict)
    tables: dict[str, TableChoice] = field(default_factory=dict)
    webhook_fail: bool = False
    webhook_ok: bool = False

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def table(self, name: str) -> TableChoice:
        return self.tables.get(name) or TableChoice(name=name)


SCALARS = (
    "name",
    "description",
    "source_id",
    "target_id",
    "schema",
    "target_schema",
    "table_prefix",
    "cron",
    "timezone",
    "fail_emails",
    "ok_emails",
    "q_sql",
    "q_target",
    "q_load",
)


def state_from_form(form: Mapping[str, Any], getlist: Any) -> BuilderState:
    """Read the posted fields; ``getlist(key)`` returns every value of a repeated field."""
    state = BuilderState(values={k: str(form.get(k, "")).strip() for k in SCALARS})
    state.webhook_fail = "fail_webhook" in form
    state.webhook_ok = "ok_webhook" in form
    count = _int(form.get("table_count"))
    for i in range(min(count, 5000)):
        name = str(form.get(f"t{i}_name", ""))
        if not name:
            continue
        state.tables[name] = TableChoice(
            name=name,
            schema=str(form.get(f"t{i}_schema", "")),
            selected=f"t{i}_sel" in form,
            load=str(form.get(f"t{i}_load", "overwrite")),
            keys=[str(k) for k in getlist(f"t{i}_keys")],
            extract=str(form.get(f"t{i}_extract", "all")),
            cursor=str(form.get(f"t{i}_cursor", "")),
            start=str(form.get(f"t{i}_start", "")).strip(),
            target=str(form.get(f"t{i}_target", "")).strip(),
            columns_off=_columns_off(i, getlist),
            partition=str(form.get(f"t{i}_partition", "")).strip(),
        )
    return state


def _columns_off(i: int, getlist: Any) -> list[str]:
    """The unticked column boxes of table ``i`` (``t3_colall`` lists every column shown); a
    table whose columns are not listed (gone from the source) keeps its saved ``t3_off``."""
    shown = [str(c) for c in getlist(f"t{i}_colall")]
    if not shown:
        return [str(c) for c in getlist(f"t{i}_off")]
    ticked = {str(c) for c in getlist(f"t{i}_col")}
    return [c for c in shown if c not in ticked]


def schedulers_field(cron: str, zone: str) -> list[dict[str, Any]]:
    """The body's ``schedulers``: the cron read in ``zone`` (UTC when empty)."""
    if not cron:
        return []
    return [{"cron_expression": cron, "timezone": zone or "UTC"}]


def schedule_zone(schedulers: Sequence[Mapping[str, Any]]) -> str:
    return str(schedulers[0].get("timezone") or "UTC") if schedulers else "UTC"


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def _emails(text: str) -> list[str]:
    return [e for e in (part.strip() for part in text.replace(";", ",").split(",")) if e]


@dataclass
class BuiltBody:
    body: dict[str, Any]
    #: ``(schema index, table index)`` in the body -> form prefix (``t3`` or ``q``).
    places: dict[tuple[int, int], str]


#: File suffix -> ``details.file_format`` for file sources (the form has no format picker).
FILE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


def file_format(name: str) -> str | None:
    """The format a file table's name implies (``orders.csv.gz`` -> csv), else ``None`` (the
    API then asks for one, next to the table)."""
    lowered = name.lower().removesuffix(".gz").removesuffix(".zst")
    return next((f for suffix, f in FILE_FORMATS.items() if lowered.endswith(suffix)), None)


def build_body(
    state: BuilderState,
    tables: Sequence[TableView],
    keep: Mapping[str, Any] | None = None,
    *,
    file_tables: bool = False,
) -> BuiltBody:
    """The ``POST .../rivers`` body for this form; ``keep`` (a saved definition) supplies what
    the form does not edit (settings, variables, group) so an edit changes only what it shows."""
    kinds = {(t.name, c.name): c.cursor_kind for t in tables for c in t.columns}
    saved_columns = _saved_columns(keep or {})
    by_schema: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for i, view in enumerate(tables):
        choice = state.tables.get(view.name)
        if choice is None or not choice.selected:
            continue
        entry: dict[str, Any] = {
            "name": view.name,
            "details": _details(choice, kinds, saved_columns.get(view.name, {})),
        }
        if file_tables and file_format(view.name):
            entry["details"]["file_format"] = file_format(view.name)
        by_schema.setdefault(view.schema or state.get("schema"), []).append((f"t{i}", entry))
    if state.get("q_sql"):
        details: dict[str, Any] = {"target_table": state.get("q_target") or None}
        if state.get("q_load") in LOAD_METHODS:
            details["loading_method"] = state.get("q_load")
        entry = {"query": state.get("q_sql"), "details": details}
        by_schema.setdefault(state.get("schema"), []).append(("q", entry))
    schemas: list[dict[str, Any]] = []
    places: dict[tuple[int, int], str] = {}
    for s, (schema_name, entries) in enumerate(by_schema.items()):
        for t, (prefix, _entry) in enumerate(entries):
            places[(s, t)] = prefix
        schemas.append({"name": schema_name, "tables": [e for _p, e in entries]})
    target: dict[str, Any] = {"connection_id": state.get("target_id")}
    if state.get("target_schema"):
        target["schema_name"] = state.get("target_schema")
    if state.get("table_prefix"):
        target["table_prefix"] = state.get("table_prefix")
    old = dict(keep or {})
    old_target = old.get("properties", {}).get("target", {})
    for kept in ("schema_drift", "add_metadata_columns"):
        if kept in old_target:
            target[kept] = old_target[kept]
    body: dict[str, Any] = {
        "name": state.get("name"),
        "type": "src_to_trgt",
        "metadata": {"description": state.get("description")},
        "properties": {
            "source": {"connection_id": state.get("source_id")},
            "target": target,
            "schemas": schemas,
        },
        "schedulers": schedulers_field(state.get("cron"), state.get("timezone")),
        "notifications": {
            "on_failure": {
                "emails": _emails(state.get("fail_emails")),
                "webhook": state.webhook_fail,
            },
            "on_success": {"emails": _emails(state.get("ok_emails")), "webhook": state.webhook_ok},
        },
    }
    for kept in ("group_id", "settings", "variables"):
        if old.get(kept) is not None:
            body[kept] = old[kept]
    if old.get("schedulers") and body["schedulers"]:
        body["schedulers"][0]["is_enabled"] = old["schedulers"][0].get("is_enabled", True)
    return BuiltBody(body, places)


def _saved_columns(definition: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Table -> column -> its saved ``modified_columns`` entry: a rename or type override the
    form does not show is kept on edit."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for schema in definition.get("properties", {}).get("schemas") or []:
        for table in schema.get("tables", []):
            entries = table.get("details", {}).get("modified_columns") or []
            if table.get("name"):
                found[str(table["name"])] = {str(c["name"]): dict(c) for c in entries}
    return found


def _column_entries(
    choice: TableChoice, saved: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``modified_columns``: keys, left-out columns and saved renames, in a stable order."""
    names = [*choice.keys, *choice.columns_off]
    names += [n for n, e in saved.items() if e.get("target_name") or e.get("type")]
    entries: list[dict[str, Any]] = []
    for name in dict.fromkeys(names):
        entry: dict[str, Any] = {"name": name}
        for kept in ("target_name", "type"):
            if saved.get(name, {}).get(kept):
                entry[kept] = saved[name][kept]
        if name in choice.keys:
            entry["is_key"] = True
        if name in choice.columns_off:
            entry["is_selected"] = False
        entries.append(entry)
    return entries


def _details(
    choice: TableChoice,
    kinds: Mapping[tuple[str, str], str | None],
    saved: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    details: dict[str, Any] = {"loading_method": choice.load, "extract_method": choice.extract}
    if choice.target:
        details["target_table"] = choice.target
    entries = _column_entries(choice, saved)
    if entries:
        details["modified_columns"] = entries
    if choice.partition:
        details["partition_by"] = split_partition_text(choice.partition)
    if choice.extract == "incremental":
        if choice.cursor:
            details["incremental_field"] = choice.cursor
            details["incremental_type"] = kinds.get((choice.name, choice.cursor)) or "string"
        if choice.start:
            details["start_value"] = choice.start
    return details


def field_errors(
    errors: Sequence[tuple[Sequence[Any], str]], places: Mapping[tuple[int, int], str]
) -> dict[str, str]:
    """Form field -> message, from API error locations (``body`` first, as in a 422)."""
    found: dict[str, str] = {}
    for loc, message in errors:
        path = tuple(p for p in loc if p != "body")
        key = _field_for(path, places)
        found[key] = f"{found[key]} {message}".strip() if key in found else message
    return found


def _field_for(path: tuple[Any, ...], places: Mapping[tuple[int, int], str]) -> str:
    if path[:2] == ("properties", "schemas") and len(path) >= 5 and path[3] == "tables":
        prefix = places.get((_int(path[2]), _int(path[4])), "")
        if not prefix:
            return "tables"
        rest = path[5:]
        if prefix == "q":
            return "q_target" if "target_table" in rest else "q_sql"
        if len(rest) >= 2 and rest[0] == "details" and str(rest[1]) in DETAIL_FIELDS:
            return f"{prefix}_{DETAIL_FIELDS[str(rest[1])]}"
        return prefix
    for length in range(len(path), 0, -1):
        if path[:length] in TOP_FIELDS:
            return TOP_FIELDS[path[:length]]
    return "form"


def state_from_definition(definition: Mapping[str, Any]) -> BuilderState:
    """Fields for a saved source-to-target river (the edit and duplicate forms)."""
    props = definition.get("properties", {})
    target = props.get("target", {})
    notifications = definition.get("notifications", {})
    fail = notifications.get("on_failure", {})
    ok = notifications.get("on_success", {})
    schedulers = definition.get("schedulers") or []
    schemas = props.get("schemas") or []
    state = BuilderState(
        values={
            "name": str(definition.get("name", "")),
            "description": str(definition.get("metadata", {}).get("description", "")),
            "source_id": str(props.get("source", {}).get("connection_id", "")),
            "target_id": str(target.get("connection_id", "")),
            "schema": str(schemas[0].get("name", "")) if schemas else "",
            "target_schema": str(target.get("schema_name") or ""),
            "table_prefix": str(target.get("table_prefix") or ""),
            "cron": str(schedulers[0].get("cron_expression", "")) if schedulers else "",
            "timezone": schedule_zone(schedulers),
            "fail_emails": ", ".join(fail.get("emails", [])),
            "ok_emails": ", ".join(ok.get("emails", [])),
        },
        webhook_fail=bool(fail.get("webhook")),
        webhook_ok=bool(ok.get("webhook")),
    )
    default_load = str(target.get("loading_method") or "overwrite")
    for schema in schemas:
        for table in schema.get("tables", []):
            details = table.get("details", {})
            if table.get("query"):
                state.values.update(
                    q_sql=str(table["query"]),
                    q_target=str(details.get("target_table") or ""),
                    q_load=str(details.get("loading_method") or default_load),
                )
                continue
            name = str(table.get("name", ""))
            start = details.get("start_value")
            state.tables[name] = TableChoice(
                name=name,
                schema=str(schema.get("name", "")),
                selected=bool(details.get("is_selected", True)),
                load=str(details.get("loading_method") or default_load),
                keys=[c["name"] for c in details.get("modified_columns", []) if c.get("is_key")],
                columns_off=[
                    c["name"]
                    for c in details.get("modified_columns", [])
                    if not c.get("is_selected", True)
                ],
                extract=str(details.get("extract_method", "all")),
                cursor=str(details.get("incremental_field") or ""),
                start="" if start is None else str(start),
                target=str(details.get("target_table") or ""),
                partition=", ".join(details.get("partition_by") or []),
            )
    return state
