"""A Postman collection (v2.1) of Headwater's own API, generated from its OpenAPI document.

Generated rather than hand-written so it can never miss an endpoint: one folder per OpenAPI
tag, one request per operation, path parameters as collection variables (``{{account_id}}``,
``{{environment_id}}``, ``{{river_id}}``, ``{{run_id}}``, ...), optional query parameters
present but disabled, time windows bound to ``{{start_date}}``/``{{end_date}}`` like the
hosted service's Activities collection, and bearer auth from ``{{access_token}}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
_PATH_PARAM = re.compile(r"\{([^}]+)\}")
_QUERY_VALUES = {"start_time": "{{start_date}}", "end_time": "{{end_date}}"}
_WELL_KNOWN = ("account_id", "environment_id", "river_id", "run_id", "run_group_id")
_METHODS = ("get", "post", "put", "patch", "delete")


def build_collection(openapi: dict[str, Any], *, base_url: str | None = None) -> dict[str, Any]:
    """The collection for ``openapi`` (``app.openapi()``), reaching ``base_url``."""
    folders: dict[str, list[dict[str, Any]]] = {}
    variables: dict[str, str] = {"base-url": (base_url or DEFAULT_BASE_URL).rstrip("/")}
    for name in _WELL_KNOWN:
        variables[name] = ""
    variables.update(start_date="2026-01-01T00:00:00", end_date="2026-02-01T00:00:00")
    for path, operations in openapi.get("paths", {}).items():
        for method in _METHODS:
            operation = operations.get(method)
            if operation is None:
                continue
            for param in _PATH_PARAM.findall(path):
                variables.setdefault(param, "")
            tag = (operation.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(_request(openapi, path, method, operation))
    return {
        "info": {
            "name": f"{openapi.get('info', {}).get('title', 'Headwater API')}",
            "description": "Generated from the OpenAPI document of this Headwater deployment. "
            "Set access_token (an API token) and the ids; the time window uses start_date and "
            "end_date.",
            "schema": SCHEMA_URL,
            "version": str(openapi.get("info", {}).get("version", "")),
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{access_token}}", "type": "string"}],
        },
        "variable": [
            *({"key": key, "value": value, "type": "string"} for key, value in variables.items()),
            {"key": "access_token", "value": "", "type": "string"},
        ],
        "item": [
            {"name": tag, "item": sorted(items, key=lambda item: str(item["name"]))}
            for tag, items in sorted(folders.items())
        ],
    }


def _request(
    openapi: dict[str, Any], path: str, method: str, operation: dict[str, Any]
) -> dict[str, Any]:
    postman_path = _PATH_PARAM.sub(r"{{\1}}", path)
    query = [
        _query_param(param)
        for param in operation.get("parameters", [])
        if param.get("in") == "query"
    ]
    raw_query = "&".join(f"{q['key']}={q['value']}" for q in query if not q.get("disabled"))
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": [],
        "url": {
            "raw": "{{base-url}}" + postman_path + (f"?{raw_query}" if raw_query else ""),
            "host": ["{{base-url}}"],
            "path": [segment for segment in postman_path.split("/") if segment],
            "query": query,
        },
        "description": operation.get("description") or operation.get("summary") or "",
    }
    body = _body(openapi, operation)
    if body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {"mode": "raw", "raw": body, "options": {"raw": {"language": "json"}}}
    name = operation.get("summary") or operation.get("operationId") or f"{method.upper()} {path}"
    return {"name": name, "request": request, "response": []}


def _query_param(param: dict[str, Any]) -> dict[str, Any]:
    name = str(param["name"])
    entry: dict[str, Any] = {
        "key": name,
        "value": _QUERY_VALUES.get(name, ""),
        "description": str(param.get("description") or ""),
    }
    if not param.get("required"):
        entry["disabled"] = True
    return entry


def _body(openapi: dict[str, Any], operation: dict[str, Any]) -> str | None:
    content = (operation.get("requestBody") or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return None
    return json.dumps(_example(openapi, schema, depth=0), indent=2)


def _resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    node: Any = openapi
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _example(openapi: dict[str, Any], schema: dict[str, Any], depth: int) -> Any:
    """A skeleton body: required fields with placeholders of their type (depth-limited)."""
    schema = _resolve(openapi, schema)
    if "example" in schema:
        return schema["example"]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [s for s in schema.get(key, []) if _resolve(openapi, s).get("type") != "null"]
        if options:
            return _example(openapi, options[0], depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        required = set(schema.get("required", []))
        return {
            name: _example(openapi, sub, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if name in required
        }
    if kind == "array":
        return []
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 0, "number": 0, "boolean": False}.get(str(kind), "")
