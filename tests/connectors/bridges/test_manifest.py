"""An Airbyte declarative manifest (YAML written here) against the local HTTP API.

It runs with ``source-declarative-manifest`` from an installed airbyte-cdk (the faker
package's, which pins airbyte-cdk 6, so the suite installs the CDK only once).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from headwater.connectors.errors import ConfigurationError
from headwater.connectors.registry import default_registry
from headwater.engine import TableJob, run_table_job
from tests.connectors.bridges._api import running_api
from tests.connectors.bridges._cache import FAKER, INSTALL_TIMEOUT, install, use_cache

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]
TOKEN = "hw-manifest-secret-3f00ab12"
MANIFEST = """
version: 6.61.6
type: DeclarativeSource
check:
  type: CheckStream
  stream_names: [items]
streams:
  - type: DeclarativeStream
    name: items
    primary_key: [id]
    schema_loader:
      type: InlineSchemaLoader
      schema:
        type: object
        properties:
          id: {type: integer}
          name: {type: [string, "null"]}
          updated_at: {type: string, format: date-time}
          tags: {type: array, items: {type: string}}
          owner:
            type: object
            properties:
              login: {type: string}
              age: {type: integer}
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: "{{ config['base_url'] }}"
        path: /items
        http_method: GET
        authenticator:
          type: BearerAuthenticator
          api_token: "{{ config['api_token'] }}"
      record_selector:
        type: RecordSelector
        extractor:
          type: DpathExtractor
          field_path: [items]
      paginator:
        type: DefaultPaginator
        page_token_option:
          type: RequestOption
          inject_into: request_parameter
          field_name: page
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{ response.next_page }}"
          stop_condition: "{{ not response.next_page }}"
spec:
  type: Spec
  connection_specification:
    type: object
    required: [base_url, api_token]
    properties:
      base_url: {type: string}
      api_token: {type: string, airbyte_secret: true}
"""


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_cache(monkeypatch)
    install(FAKER)
    path = tmp_path / "manifest.yaml"
    path.write_text(MANIFEST)
    return path


def test_a_manifest_pages_through_the_api_flattened(manifest: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    logs: list[str] = []
    with running_api(TOKEN, 23) as api:
        props = {
            "package": FAKER,
            "manifest": str(manifest),
            "config": json.dumps({"base_url": api.url}),
            "secret_config": json.dumps({"api_token": TOKEN}),
            "nested": "flatten",
        }
        source = default_registry().open_source("airbyte", props)
        source.test()
        columns = [c.name for c in source.describe(source.discover()[0].ref).columns]
        assert columns == ["id", "name", "updated_at", "tags", "owner__login", "owner__age"]
        result = run_table_job(
            TableJob(
                "airbyte",
                props,
                "duckdb",
                {"path": str(warehouse)},
                source_table="items",
                target_table="items",
            ),
            log=lambda level, message: logs.append(message),
        )
        assert result.rows == 23
        assert sum("page=" in r for r in api.requests) >= 2
    with duckdb.connect(str(warehouse)) as conn:
        found = conn.execute(
            "SELECT id, owner__login, owner__age FROM items ORDER BY id"
        ).fetchall()
    assert found[0] == (1, "user1", 21) and len(found) == 23
    assert TOKEN not in "\n".join(logs)


def test_a_secret_outside_secret_config_and_a_missing_field_are_refused(manifest: Path) -> None:
    registry = default_registry()
    plain = registry.open_source(
        "airbyte",
        {
            "package": FAKER,
            "manifest": str(manifest),
            "config": json.dumps({"base_url": "http://x", "api_token": TOKEN}),
        },
    )
    with pytest.raises(ConfigurationError, match="api_token as secret"):
        plain.test()
    missing = registry.open_source(
        "airbyte", {"package": FAKER, "manifest": str(manifest), "config": "{}"}
    )
    with pytest.raises(
        ConfigurationError,
        match=r"config.base_url: field required \(rule: required\); "
        r"secret_config.api_token: field required",
    ):
        missing.test()
