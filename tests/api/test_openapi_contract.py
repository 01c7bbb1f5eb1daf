"""The published contract: ``/openapi.json`` is a valid OpenAPI document a client can be
generated from, and every route (also the hidden spellings) declares what its path needs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from headwater.api.app import create_app
from headwater.api.routes import iter_api_routes
from headwater.services.postman import build_collection
from headwater.settings import Settings

pytestmark = pytest.mark.anyio
PLACEHOLDER = re.compile(r"{([^}:]+)(?::[^}]*)?}")
BODY_METHODS = {"post", "put", "patch"}


@pytest.fixture(scope="module")
def contract_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    tmp: Path = tmp_path_factory.mktemp("contract")
    app = create_app(Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'x.db'}"))
    yield app
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def document(contract_app: FastAPI) -> dict[str, Any]:
    return contract_app.openapi()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete", "head", "options"}:
                yield method, path, operation


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_served_document_passes_openapi_spec_validator(contract_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=contract_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on the first error, naming the operation


def test_validator_rejects_an_undeclared_path_parameter(document: dict[str, Any]) -> None:
    """The check above can fail: drop one declared parameter and the validator objects."""
    path = next(p for p in document["paths"] if "{account_id}" in p and "{environment_id}" in p)
    broken = {**document, "paths": {path: dict(document["paths"][path])}}
    for method, operation in list(broken["paths"][path].items()):
        parameters = [p for p in operation.get("parameters", []) if p["name"] != "account_id"]
        broken["paths"][path][method] = {**operation, "parameters": parameters}
    with pytest.raises(OpenAPIValidationError, match="account_id"):
        validate(broken)


def test_every_operation_declares_each_parameter_of_its_path(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(document):
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        wanted = set(PLACEHOLDER.findall(path))
        if declared != wanted:
            missing.append((method, path, sorted(wanted ^ declared)))
    assert missing == []


def _path_params(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.path_params}
    for dependency in dependant.dependencies:
        names |= _path_params(dependency)
    return names


def test_every_route_also_hidden_ones_declares_its_path_parameters(contract_app: FastAPI) -> None:
    """The hidden spellings (``data flows``, ``data_flows``) are the same endpoints, but a
    handler that reads an id from the path only through a dependency would lose it in all."""
    missing = []
    for route in iter_api_routes(contract_app.routes):
        declared = _path_params(route.dependant)
        wanted = set(PLACEHOLDER.findall(route.path))
        if wanted - declared:
            missing.append((route.path, sorted(wanted - declared)))
    assert missing == []


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _m, _p, operation in _operations(document)]
    assert len(ids) == len(set(ids))


def _is_free_form(schema: dict[str, Any]) -> bool:
    return (
        schema.get("type") == "object"
        and not schema.get("properties")
        and schema.get("additionalProperties", True) is True
        and not any(key in schema for key in ("oneOf", "anyOf", "allOf", "$ref"))
    )


def test_every_json_body_declares_its_shape(document: dict[str, Any]) -> None:
    """A body taken as a bare JSON object (validated by hand) still declares the model it is
    validated against, so generated clients and the fuzzer send what the API accepts."""
    free_form = []
    for method, path, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is not None and _is_free_form(schema):
            free_form.append((method, path))
    assert free_form == []


def test_body_routes_that_parse_json_declare_a_body(document: dict[str, Any]) -> None:
    """The legacy routes read their body by hand; each still declares one."""
    without = [
        (method, path)
        for method, path, operation in _operations(document)
        if path.startswith("/api/") and method in BODY_METHODS and "requestBody" not in operation
    ]
    assert without == []


def test_postman_collection_defines_every_path_variable(document: dict[str, Any]) -> None:
    """The collection generated from the document can call every operation: each
    ``{{variable}}`` of a request's path is a collection variable."""
    collection = build_collection(document)
    defined = {variable["key"] for variable in collection["variable"]}
    used = set()
    for folder in collection["item"]:
        for item in folder["item"]:
            for segment in item["request"]["url"]["path"]:
                used |= set(re.findall(r"{{([^}]+)}}", segment))
    assert used, "no request has a path variable"
    assert used <= defined


RUN = "a" * 32
TABLE_DETAILS_INCREMENTAL = {"extract_method": "incremental", "incremental_field": "id"}
CONDITION = {
    "type": "condition",
    "variable": "v",
    "steps": [{"type": "river", "river_id": "a" * 24}],
}


@pytest.mark.parametrize(
    ("component", "body", "valid"),
    [
        ("CancelRequest", {"run_id": RUN}, True),
        ("CancelRequest", {}, False),
        ("CancelRequest", {"run_id": RUN, "run_group_id": RUN}, False),
        ("SourceTable", {"name": "t"}, True),
        ("SourceTable", {"query": "select 1", "details": {"target_table": "t"}}, True),
        ("SourceTable", {"name": "t", "query": "select 1"}, False),
        ("SourceTable", {"query": "select 1"}, False),
        ("TableDetails", {**TABLE_DETAILS_INCREMENTAL, "incremental_type": "number"}, True),
        ("TableDetails", TABLE_DETAILS_INCREMENTAL, False),
        ("Pagination", {"type": "offset", "offset_param": "o"}, False),
        ("RequestBody", {"type": "none", "content": {"a": 1}}, False),
        ("RequestBody", {"type": "form", "content": "a=1"}, False),
        ("ConditionContainer", {**CONDITION, "operator": "in", "value": [1]}, True),
        ("ConditionContainer", {**CONDITION, "operator": "in", "value": 1}, False),
        ("ConditionContainer", {**CONDITION, "operator": "equals"}, False),
        ("SqlStep", {"type": "sql", "connection_id": "a" * 24, "sql": "x"}, True),
        (
            "SqlStep",
            {
                "type": "sql",
                "connection_id": "a" * 24,
                "sql": "x",
                "target_table": "t",
                "target_variable": "v",
            },
            False,
        ),
    ],
)
def test_cross_field_rules_the_schema_states(
    document: dict[str, Any], component: str, body: dict[str, Any], valid: bool
) -> None:
    """Rules across fields that JSON Schema can say are in the document, so a generated
    client (and the fuzzer) cannot build a body the API then refuses for them."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    errors = list(Draft202012Validator(schema).iter_errors(body))
    assert (not errors) is valid, [error.message for error in errors]
