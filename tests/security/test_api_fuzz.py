"""Schema fuzzing: every operation of ``/openapi.json``, generated requests, checked responses.

Schemathesis generates requests from the app's own OpenAPI document and the checks hold every
answer to it: no 5xx, only declared status codes, declared content types, bodies that match the
declared schema, and no 400/422 for a request the schema calls valid (``positive_data_acceptance``:
the document must say what validation does). The only exceptions are the rules JSON Schema
cannot state (a referenced id must exist, an end after a start, ...): each is a ``SchemaGap``
below and a line of ``docs/api-contract.md``. With a token holding every scope, the account and
environment path parameters are pinned to real ones so the handlers (not just the auth layer)
see the generated data; without a token every protected operation must answer a declared 401.

``HEADWATER_FUZZ_EXAMPLES`` sets the examples per operation: 25 for a bare ``pytest``, 50 under
``scripts/test.sh`` (the README's test command, which CI runs); the deeper run in
``docs/security.md`` uses 300. Findings so far are fixed in the app, each with a regression test
at the end of this module.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from headwater.schemas.common import parse_time
from headwater.server import create_server_app
from headwater.services.bootstrap import ensure_default_account
from headwater.settings import Settings
from headwater.store.engine import make_engine, make_session_factory
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, FakeClock

EXAMPLES = int(os.environ.get("HEADWATER_FUZZ_EXAMPLES", "25"))
ANONYMOUS_EXAMPLES = max(3, EXAMPLES // 5)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api-contract.md"


@dataclass(frozen=True)
class SchemaGap:
    """A rule validation applies that the OpenAPI document cannot state: a request the schema
    calls valid may be rejected for it. ``doc`` is the rule's bullet in ``docs/api-contract.md``."""

    doc: str
    message: str  # regex on ``<loc>: <msg>`` of a 422 error, or the detail of a 400
    operations: str = r".*"  # regex on ``METHOD /path``


SCHEMA_GAPS = (
    SchemaGap(
        "Referenced objects must exist",
        r"(connection|river|group) \S+ was not found in this environment"
        r"|Unknown environments for this account",
    ),
    SchemaGap("A connection must be able to play its role", r"cannot be a (source|target)"),
    SchemaGap("A river step must run the right kind of river", r"river '.*' is not "),
    SchemaGap("A logic river must not run itself", r"the logic river would run itself"),
    SchemaGap("Referenced variables must be defined", r"unknown variable"),
    SchemaGap("Merge needs key columns", r"loading_method 'merge' needs key columns"),
    SchemaGap(
        "Merge keys, the cursor and partition columns are selected columns",
        r"the (merge key|cursor|partition) column .* is not selected",
    ),
    SchemaGap(
        "Partitioning needs a target that can partition",
        r"partition_by (needs a target that can partition|on \S+ takes column names only)",
    ),
    SchemaGap("File sources take paths and a file format", r"a file source (has no SQL|needs)"),
    SchemaGap("Cron values must be in range", r"is not a valid 5-field cron expression"),
    SchemaGap("A time window ends after it starts", r"end_time must (be after|not be before)"),
    SchemaGap(
        "Times must fall within years 1 to 9999 in UTC",
        r"(time|epoch milliseconds) out of range",
    ),
    SchemaGap(
        "A stored secret's mask needs a stored secret", r"the mask was sent but no value is stored"
    ),
    SchemaGap(
        "Text carries no control characters",
        r"control character",
    ),
    SchemaGap(
        "Names that differ only in case or Unicode form clash", r"differs (from it )?only in"
    ),
    SchemaGap(
        "Local paths stay in the allowed folders",
        r"(the path .* (is|lies|resolves)|HEADWATER_LOCAL_ROOTS|data dir)",
    ),
    SchemaGap("Cron expressions must fire", r"never fires"),
    SchemaGap("Time zones are IANA names", r"unknown time zone"),
    SchemaGap(
        "Header properties and connector settings hold a JSON object",
        r"must be a JSON object( such as|$)",
    ),
    SchemaGap(
        "Change capture reads a table from a source with a change log",
        r"extract_method 'cdc' (reads a table|needs a source)",
    ),
    SchemaGap(
        "Raw variables come from the river, not from a run",
        r"(raw variable|is raw|a run parameter)",
    ),
    SchemaGap(
        "Legacy river bodies are validated after translation",
        r"^body\.properties(\.|:)",
        operations=r"^(PUT|PATCH) /api/rivers/modify$",
    ),
)


def _rejections(response: Any) -> list[str]:
    """Every reason a 400/422 gives: ``<loc>: <msg>`` per field error, or the message."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return [response.text]
    if isinstance(detail, list):
        return [
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg')}"
            for error in detail
        ]
    return [str(detail)]


def documented_gap(operation: str, response: Any) -> bool:
    """Whether every reason of this rejection is a ``SchemaGap`` of ``operation``."""
    gaps = [gap for gap in SCHEMA_GAPS if re.search(gap.operations, operation)]
    return all(
        any(re.search(gap.message, reason) for gap in gaps) for reason in _rejections(response)
    )


def positive_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except for a rule listed in ``SCHEMA_GAPS``."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        if documented_gap(f"{case.method.upper()} {case.path}", response):
            return None
        raise


CHECKS = [
    not_a_server_error,
    positive_data_accepted,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the schema, read from a throwaway app."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_server_app(Settings(data_dir=Path(tmp), database_url="sqlite://"))
        document = app.openapi()
        app.state.engine.dispose()
    return sorted(
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    )


OPERATIONS = _operations()


@dataclass
class Fuzzed:
    app: FastAPI
    schema: Any
    headers: dict[str, str]
    account_id: str
    environment_id: str


@pytest.fixture(scope="module")
def fuzzed(sqlite_template: Path) -> Iterator[Fuzzed]:
    tmp = Path(tempfile.mkdtemp(prefix="hw-fuzz-"))
    shutil.copyfile(sqlite_template, tmp / "headwater.db")
    url = f"sqlite:///{tmp / 'headwater.db'}"
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        boot = ensure_default_account(
            session, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
        )
    token = mint(sessions, boot.account_id, created_by=boot.admin_id)
    settings_ = Settings(
        data_dir=tmp / "data",
        database_url=url,
        secret_key="fuzz-secret-key-not-for-production",  # type: ignore[arg-type]
        rate_limit_per_minute=10**6,  # the fuzzer is one token sending thousands of requests
    )
    app = create_server_app(settings_, engine=engine, clock=FakeClock())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield Fuzzed(app, schema, token.headers, boot.account_id, boot.environment_id)
    app.state.executor.stop()
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)


def _refused_by_the_input_guard(response: Any) -> bool:
    """Control characters, non-finite numbers and deep JSON are refused before authentication
    (``api.input_guard``), on every route."""
    if response.status_code not in {400, 422}:
        return False
    text = response.text
    return any(word in text for word in ("control character", "finite number", "deeper than"))


def _run(fuzzed: Fuzzed, method: str, path: str, *, authenticated: bool) -> None:
    operation = fuzzed.schema[path][method]
    headers = fuzzed.headers if authenticated else {}
    examples = EXAMPLES if authenticated else ANONYMOUS_EXAMPLES

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        if authenticated:
            # Real ids here, so generated bodies reach the handlers instead of a 404.
            if "account_id" in (case.path_parameters or {}):
                case.path_parameters["account_id"] = fuzzed.account_id
            if "environment_id" in (case.path_parameters or {}):
                case.path_parameters["environment_id"] = fuzzed.environment_id
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        if not authenticated and operation.definition.raw.get("security") is None:
            scoped = "401" in operation.definition.raw.get("responses", {})
            if scoped and not _refused_by_the_input_guard(response):
                assert response.status_code == 401, (method, path, response.status_code)

    check()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda v: str(v))
def test_fuzz_with_every_scope(fuzzed: Fuzzed, method: str, path: str) -> None:
    _run(fuzzed, method, path, authenticated=True)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=lambda v: str(v))
def test_fuzz_without_token(fuzzed: Fuzzed, method: str, path: str) -> None:
    _run(fuzzed, method, path, authenticated=False)


def test_schemathesis_reads_every_operation_without_a_schema_error(fuzzed: Fuzzed) -> None:
    """An operation schemathesis cannot read (a broken reference, an undeclared path
    parameter) would otherwise be left out of the fuzzing instead of failing it."""
    read = []
    for result in fuzzed.schema.get_all_operations():
        operation = result.ok()  # raises the schema error
        read.append((operation.method.upper(), operation.path))
    assert sorted(read) == OPERATIONS


def test_every_schema_gap_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for gap in SCHEMA_GAPS:
        assert f"**{gap.doc}**" in text, gap.doc


class _Answer:
    def __init__(self, detail: Any) -> None:
        self.detail = detail
        self.text = str(detail)

    def json(self) -> dict[str, Any]:
        return {"detail": self.detail}


def test_only_documented_rules_excuse_a_rejection() -> None:
    river = "POST /v1/accounts/{account_id}/environments/{environment_id}/rivers"
    missing = [{"loc": ["body", "group_id"], "msg": "group 0a was not found in this environment"}]
    assert documented_gap(river, _Answer(missing))
    # One undocumented reason among documented ones is a failure.
    mixed = [*missing, {"loc": ["body", "name"], "msg": "Field required"}]
    assert not documented_gap(river, _Answer(mixed))
    # A gap of one operation does not excuse another.
    translated = [{"loc": ["body", "properties", "source"], "msg": "Field required"}]
    assert documented_gap("PUT /api/rivers/modify", _Answer(translated))
    assert not documented_gap(river, _Answer(translated))


def test_every_scoped_operation_declares_the_shared_errors(fuzzed: Fuzzed) -> None:
    """The declarations the fuzzer relies on: a new route cannot ship without them."""
    document = fuzzed.app.openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if "401" not in codes:
                continue  # public
            assert {"403", "429", "503"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)


# -- regressions for what the fuzzer found ------------------------------------------------------


def test_time_before_year_one_in_utc_is_invalid_not_a_crash() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_time("0001-01-01T00:00:00+01:00")


@pytest.mark.anyio
async def test_out_of_range_values_answer_422_not_500(fuzzed: Fuzzed) -> None:
    base = f"/v1/accounts/{fuzzed.account_id}/environments/{fuzzed.environment_id}"
    transport = httpx.ASGITransport(app=fuzzed.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # A page number whose OFFSET overflowed SQLite's 64-bit integer (500 before the fix).
        huge_page = await client.get(
            f"{base}/audit_events", params={"page": 10**19}, headers=fuzzed.headers
        )
        assert huge_page.status_code == 422, huge_page.text
        rivers = await client.get(f"{base}/rivers", params={"page": 10**7}, headers=fuzzed.headers)
        assert rivers.status_code == 422, rivers.text
        # A time that is valid ISO 8601 but before datetime.min once moved to UTC.
        early = await client.get(
            f"{base}/audit_events",
            params={"start_time": "0001-01-01T00:00:00+01:00"},
            headers=fuzzed.headers,
        )
        assert early.status_code == 422, early.text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
