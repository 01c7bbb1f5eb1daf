"""Issue #11, secrets: a known secret placed everywhere a secret goes never comes back out.

One scenario on a live ``headwater up`` (PostgreSQL metadata, logging at DEBUG): connections of
every registered type with every secret property filled (each with its own secret), private
environment and river variables, action credentials of every auth kind; connection tests that
pass and fail, rivers that succeed and fail (database errors, APIs repeating credentials back),
a webhook, client mistakes that carry secrets, every GET route of the API and the console, and
``headwater export``/``run``. The secrets (plain, URL-encoded, base64 at any alignment, hex)
must be absent from every response, run log, step, audit event, webhook delivery, log line
and CLI output, and from the metadata database's rows, where they are stored encrypted.

Leaks this scenario found (and the fixes it keeps honest):

- an API repeating a ``Basic`` credential, a query-string API key or a form-encoded OAuth
  client secret showed the secret base64- or percent-encoded in run errors, logs, steps,
  webhooks, the console and connection tests (``security/redact.py`` masks those forms too);
- an action river's OAuth access token, obtained while running, stayed in the run's error
  (``runner/actions.py`` masks it before the error leaves the handler);
- httpx's INFO line logged every outbound URL with its query string: API keys and private
  variables sent as query parameters (``logconfig.py`` drops the query);
- a 422 from a typed body (environment and river variables) repeated the offending object or
  a misspelt field's value (``api/errors.py`` shows inputs as ``parse_body`` does).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import psycopg
import pytest

from headwater.security.crypto import MASK, SecretBox, is_encrypted
from headwater.services import connection_types
from headwater.web import activities, connections, login, rivers, runs, tokens, users
from tests._services import require_service
from tests.live import fill_table, libpq, make_cluster
from tests.security.secrets_steps import (
    ADMIN_PASSWORD,
    SECRET_KEY,
    Corpus,
    World,
    create_connections,
    create_rivers,
    make_mistakes,
    run_everything,
    set_environment_variables,
    window,
)
from tests.security.secrets_world import (
    PREFIX,
    ConnectionCase,
    Recording,
    Secrets,
    connection_cases,
    find_leaks,
    serve_echo,
)

# -- read everything back -----------------------------------------------------------------------


PARAM = re.compile(r"\{([a-z_]+)\}")
ALIAS = re.compile(r"data[ _]flows")


def _id_sets(w: World) -> list[dict[str, str]]:
    """Consistent bindings of path parameters: every object the scenario made, with its
    parents (a run with its river and run group, a version with its river)."""
    base = {"account_id": w.account, "environment_id": w.env, "tenant_id": w.account}
    bindings: list[dict[str, str]] = [dict(base)]
    bindings += [{**base, "connection_id": c} for c in w.connections.values()]
    for river_id in w.rivers.values():
        river = {**base, "river_id": river_id}
        bindings.append(river)
        for version in w.call("GET", f"/rivers/{river_id}/versions")["items"]:
            bindings.append({**river, "version_id": version["version_id"]})
        for run in (r for r in w.runs if r["river_id"] == river_id):
            bindings.append({**river, "run_id": run["run_id"], "run_group_id": run["run_group_id"]})
    bindings += [
        {**base, "webhook_id": h["webhook_id"]} for h in w.call("GET", "/webhooks")["items"]
    ]
    account = f"/v1/accounts/{w.account}"
    bindings += [
        {**base, "user_id": u["id"]} for u in w.api.request("GET", f"{account}/users")["items"]
    ]
    tokens = w.api.request("GET", f"{account}/api_tokens")["items"]
    bindings += [{**base, "token_id": t["id"]} for t in tokens]
    # A connector install (from an empty wheelhouse: it fails at once, with pip's output).
    started = w.api.request(
        "POST", "/v1/instance/connectors", 202, json={"package": "headwater-no-such-connector"}
    )
    bindings.append({**base, "install_id": started["id"]})
    return bindings


def _fill(path: str, bindings: list[dict[str, str]]) -> list[str]:
    names = set(PARAM.findall(path))
    filled: set[str] = set()
    for binding in bindings:
        if names <= set(binding):
            filled.add(path.format_map(binding))
    return sorted(filled)


def sweep_api(w: World) -> tuple[int, list[str]]:
    """GET every route of the API document with every consistent set of ids (ids taken in the
    query too); returns the number of calls and the routes no id set could fill."""
    document = w.api.request("GET", "/openapi.json")
    bindings = _id_sets(w)
    calls, uncovered = 0, []
    for path, operations in document["paths"].items():
        if "get" not in operations or ALIAS.search(path):
            continue  # the "data flows" aliases run the same handlers as the river routes
        urls = _fill(path, bindings)
        if not urls:
            uncovered.append(path)
        query = {p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"}
        fixed = {k: v for k, v in window().items() if k in query}
        if "return_last_runs" in query:
            fixed["return_last_runs"] = "true"
        per_call: list[dict[str, str]] = [{}]
        if query & {"run_id", "id"}:
            key = "run_id" if "run_id" in query else "id"
            per_call = [{key: r["run_id"]} for r in w.runs]
        for url in urls:
            for params in per_call:
                response = w.api.client.get(url, params={**fixed, **params})
                if response.status_code == 202 and "queryid" in response.headers:
                    params = {**params, "queryId": response.headers["queryid"]}
                    response = w.api.client.get(url, params={**fixed, **params})
                assert response.status_code == 200, (url, params, response.text)
                calls += 1
    return calls, uncovered


CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
CONSOLE_MODULES = (activities, connections, login, rivers, runs, tokens, users)


def sweep_console(w: World) -> int:
    """Sign in, GET every console page with every consistent set of ids, the new-connection
    form of every type, and test a failing connection from the console."""
    console = Recording(w.url, w.corpus, follow_redirects=True)
    try:
        page = console.request("GET", "/console/login")
        form = {"email": "admin@example.com", "password": ADMIN_PASSWORD}
        form["csrf_token"] = CSRF.findall(page)[0]
        console.request("POST", "/console/login", data=form)
        bindings = _id_sets(w)
        pages = 0
        for module in CONSOLE_MODULES:
            for route in module.router.routes:
                if "GET" not in getattr(route, "methods", set()):
                    continue
                for url in _fill(str(getattr(route, "path", "")), bindings):
                    console.request("GET", url)
                    pages += 1
        env = f"/console/accounts/{w.account}/environments/{w.env}"
        for spec in connection_types.all_specs():
            console.request("GET", f"{env}/connections/new", params={"type": spec.name})
        listing = console.request("GET", f"{env}/connections")
        tested = console.request(
            "POST",
            f"{env}/connections/{w.connections['api-basic-denied']}/test",
            data={"csrf_token": CSRF.findall(listing)[0]},
        )
        assert "401" in tested
        return pages
    finally:
        console.close()


def run_cli(w: World, tmp: Path) -> Corpus:
    """``headwater export`` (standard output and a directory) and ``headwater run`` of failing
    rivers (through the API and ``--local``), side by side; returns their outputs and files."""
    env = {**os.environ, **w.cluster.env, "HEADWATER_SECRET_KEY": SECRET_KEY}
    folder = tmp / "exported"
    commands = {
        ("export",): 0,
        ("export", "-o", str(folder)): 0,
        ("run", w.rivers["denied basic"], "--wait", "--url", w.url, "--token", w.token["token"]): 1,
        ("run", w.rivers["load api-key-query-denied"], "--local"): 1,
    }
    started = {
        args: subprocess.Popen(
            [sys.executable, "-m", "headwater", *args],
            cwd=w.cluster.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    }
    outputs: Corpus = []
    for args, process in started.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == commands[args], (args, stdout, stderr)
        outputs.append((f"headwater {' '.join(args[:2])}", stdout + stderr))
    assert "${HW_" in outputs[0][1]  # secrets exported as references to variables
    files = sorted(folder.rglob("*.yaml"))
    assert len(files) == len(w.rivers) + 3  # a file per river, connections, groups, variables
    outputs += [(f"exported file {path.name}", path.read_text()) for path in files]
    return outputs


# -- the metadata database ---------------------------------------------------------------------


def check_metadata(w: World, meta_url: str, cases: list[ConnectionCase]) -> Corpus:
    """Every secret is stored, encrypted, and opens to the value that was sent; returns every
    row of every table as text for the leak search."""
    from headwater.security.redact import header_secret_parts
    from headwater.services.river_secrets import is_header, opened, secret_fields
    from headwater.store.base import Base

    box = SecretBox(SECRET_KEY)
    expected = {(c.name, name): c.properties[name] for c in cases for name in c.secret_names}
    expected[("pg-dst", "password")] = w.secrets.issued["connection pg-dst.password rotated"]
    rows: Corpus = []
    with psycopg.connect(libpq(meta_url)) as conn:
        stored = {
            (name, key): value
            for name, secrets in conn.execute("SELECT name, secrets FROM connections")
            for key, value in secrets.items()
        }
        assert set(stored) == set(expected)
        for key, value in stored.items():
            assert is_encrypted(value) and box.decrypt(value, purpose="connection") == expected[key]
        variables = dict(
            conn.execute("SELECT name, value->>'v' FROM environment_variables WHERE is_private")
        )
        assert box.decrypt(variables["env_token"], purpose="variable") == (
            '"' + w.secrets.issued["env variable env_token"] + '"'
        )
        in_rivers: set[str] = set()
        for (definition,) in conn.execute("SELECT definition FROM rivers"):
            for holder, key, _loc in secret_fields(definition):
                assert is_encrypted(holder[key]), definition
            for holder, key, loc in secret_fields(opened(definition, box)):
                value = holder[key]
                if is_header(loc):  # "Token <secret>": the part issued
                    value = header_secret_parts(value)[-1]
                in_rivers.update(value if isinstance(value, list) else [value])
        issued = w.secrets.issued
        assert in_rivers == {
            v for k, v in issued.items() if k.startswith(("action ", "river variable ", "header "))
        }
        for table in Base.metadata.sorted_tables:
            for (text,) in conn.execute(f'SELECT row_to_json(t)::text FROM "{table.name}" t'):
                rows.append((f"metadata row of {table.name}", text))
    return rows


# -- the scenario --------------------------------------------------------------------------------


def _used(w: World) -> None:
    """The secrets were really opened and sent, as each auth kind sends them."""
    issued, got = w.secrets.issued, w.echo.received

    def sent(path: str, header: str) -> set[str]:
        return {r["headers"].get(header, "") for r in got if r["path"] == path}

    def basic(user: str, label: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{issued[label]}".encode()).decode()

    assert f"Bearer {issued['connection api-bearer.token']}" in sent("/api/items", "authorization")
    assert f"Bearer {issued['action bearer token']}" in sent("/api/items", "authorization")
    assert f"Bearer {issued['oauth access token the API issued']}" in sent(
        "/deny/after-token", "authorization"
    )
    assert issued["action api key header"] in sent("/api/items", "x-api-key")
    assert f"Token {issued['header authorization']}" in sent("/deny/headers", "authorization")
    assert issued["header x-api-key"] in sent("/deny/headers", "x-api-key")
    assert issued["header x-session-token"] in sent("/deny/headers", "x-session-token")
    assert issued["header table ok"] in sent("/api/items", "x-session-token")
    assert issued["header table denied"] in sent("/deny/basic/table-headers", "x-api-key")
    assert issued["env variable env_token"] in sent("/api/items", "x-env")
    assert issued["river variable key"] in sent("/api/items", "x-river")
    assert basic("robot", "connection api-basic-denied.password") in sent(
        "/deny/basic/items", "authorization"
    )
    assert basic("robot", "action basic password") in sent("/deny/basic", "authorization")
    assert basic("hw-client", "connection api-oauth-denied.client_secret") in sent(
        "/deny/token", "authorization"
    )
    queries = " ".join(r["query"] for r in got)
    for label in ("connection api-key-query-denied.api_key", "env variable env_codes[1]"):
        assert quote(issued[label], safe="") in queries, label
    forms = " ".join(w.echo.bodies("/deny/token"))
    assert quote_plus(issued["action oauth client secret (denied)"]) in forms
    assert any(r["path"].startswith("/hw-bucket") for r in got)  # the S3 client got that far


def _masked_where_they_were(w: World) -> None:
    """Errors that repeated a secret are there, with the mask in its place."""
    runs = {r["river"]: r for r in w.runs if not r.get("sub_river_id")}
    for river in (
        "denied basic",
        "denied query key",
        "denied headers",
        "load with a denied table header",
        "denied token request",
        "load api-basic-denied",
    ):
        assert MASK in runs[river]["error_description"], runs[river]
    assert "authorization=Bearer " + MASK in runs["denied after a token"]["error_description"]
    nightly = runs["nightly"]
    steps = w.call("GET", f"/rivers/{nightly['river_id']}/runs/{nightly['run_id']}/logic_steps")
    errors = {step["name"]: step["error"] for step in steps["items"]}
    assert f'"{MASK}"' in errors["cast the phrase"] and f'"{MASK}"' in errors["cast the codes"]
    connection = w.connections["api-basic-denied"]
    tested = w.call("POST", f"/connections/{connection}/test")
    assert tested["ok"] is False and f"Basic {MASK}" in tested["message"]


def test_a_known_secret_never_leaves_the_platform(
    tmp_path: Path, pg_databases: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    require_service("mysql")
    caplog.set_level(logging.DEBUG)
    secrets = Secrets()
    fill_table(pg_databases["src"], "people", 20)
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    cluster = make_cluster(
        tmp_path,
        pg_databases,
        HEADWATER_SECRET_KEY=SECRET_KEY,
        HEADWATER_LOG_LEVEL="DEBUG",
        HEADWATER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        HEADWATER_CONNECTORS_API_INSTALL="true",
        HEADWATER_CONNECTORS_INDEX_URL=str(wheelhouse),
    )
    files = tmp_path / "files"
    files.mkdir()
    with serve_echo(access_token=secrets.new("oauth access token the API issued")) as echo:
        proc, url = cluster.server()
        w = World(cluster, url, echo, secrets)
        try:
            cases = connection_cases(secrets, echo.url, pg_databases, files)
            assert {c.connection_type for c in cases} == set(connection_types.registry().names())
            set_environment_variables(w)
            failed_tests = create_connections(w, cases)
            create_rivers(w)
            run_everything(w)
            api_calls, uncovered = sweep_api(w)
            console_pages = sweep_console(w)
            make_mistakes(w)
            _masked_where_they_were(w)
            audit = w.call("GET", "/audit_events", params={"items_per_page": 200})["items"]
            cli_outputs = run_cli(w, tmp_path)
            deadline = time.monotonic() + 20
            while len(echo.bodies("/hook")) < len(w.rivers) and time.monotonic() < deadline:
                time.sleep(0.2)
            deliveries = echo.bodies("/hook")
            _used(w)
        finally:
            w.api.close()
            cluster.stop_all()
    server_log = proc.log().splitlines()
    rows = check_metadata(w, pg_databases["meta"], cases)

    # The search covers a real scenario: every route, every run, every log line.
    assert uncovered == []
    assert api_calls > 300 and console_pages > 80 and failed_tests >= 6
    assert len(w.runs) > len(w.rivers) and len(deliveries) >= len(w.rivers)
    assert len(audit) > 40 and len(server_log) > 500 and len(rows) > 200
    corpus = [
        *w.corpus,
        *cli_outputs,
        *[("webhook delivery", body) for body in deliveries],
        *[(f"server log line {i}", line) for i, line in enumerate(server_log)],
        ("this process's log", caplog.text),
        *rows,
    ]
    leaks = find_leaks(corpus, secrets.needles())
    assert not leaks, "\n".join(f"{x.where}: {x.what}: ...{x.excerpt}..." for x in leaks[:30])


def test_the_search_finds_every_form_of_a_leak() -> None:
    """The scenario's search is not blind: each way a secret can leak is found."""
    secrets = Secrets()
    secrets.basic_users.add("robot")
    value = secrets.new("probe")
    leaked = [
        ("plain", f"error: {value}"),
        ("url", "GET /x?key=" + quote(value, safe="")),
        ("form", "client_secret=" + quote_plus(value)),
        ("basic", "Basic " + base64.b64encode(f"robot:{value}".encode()).decode()),
        ("base64 at an offset", base64.urlsafe_b64encode(f'{{"k": "{value}"}}'.encode()).decode()),
        ("truncated", "denied: " + value[: len(PREFIX) + 1]),
        ("tail", "split at the slash: " + value.split("/", 1)[1]),
        ("hex", value.encode().hex()),
    ]
    found = {leak.where for leak in find_leaks(leaked, secrets.needles())}
    assert found == {where for where, _ in leaked}
    assert (
        find_leaks([("clean", f"masked: {MASK}, id {uuid.uuid4().hex}")], secrets.needles()) == []
    )


def test_the_fixes_mask_encoded_secrets_and_query_strings() -> None:
    """Regressions the scenario found, each at its own place (see the module docstring)."""
    from headwater.api.bodies import shown_input
    from headwater.logconfig import HttpxUrlWithoutQuery
    from headwater.security.redact import Redactor

    secret = "pa55/word+@="
    basic = base64.b64encode(f"robot:{secret}".encode()).decode()
    said = f"key={quote(secret, safe='')} form={quote_plus(secret)} auth=Basic {basic} x={secret}"
    redacted = Redactor([secret]).redact(said)
    assert redacted == f"key={MASK} form={MASK} auth=Basic {MASK} x={MASK}"
    assert Redactor([secret]).redact("Basic cm9ib3Q6b3RoZXI=") == "Basic cm9ib3Q6b3RoZXI="

    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        "",
        0,
        "HTTP Request: %s %s",
        ("GET", httpx.URL("http://a/b?k=1")),
        None,
    )
    assert (
        HttpxUrlWithoutQuery().filter(record)
        and record.getMessage() == "HTTP Request: GET http://a/b"
    )

    extra = {"type": "extra_forbidden", "loc": ("body", "variables", 0, "vaule"), "input": secret}
    whole = {"type": "missing", "loc": ("body", "variables", 0, "name"), "input": {"value": secret}}
    assert shown_input(extra) is None and shown_input(whole) is None
