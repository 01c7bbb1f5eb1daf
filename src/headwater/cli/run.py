"""``headwater run RIVER``: run a river (by id or name) here or through the API, and follow it.

Exit codes: 0 succeeded, 1 failed, 2 partially succeeded, 3 canceled, 4 skipped, 5 still
running when ``--timeout`` passed.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import httpx
import typer
from rich.console import Console

from headwater.cli.common import fail
from headwater.cli.progress import run_table
from headwater.services.runs import derive_group_status

EXIT_CODES = {
    "succeeded": 0,
    "failed": 1,
    "partially succeeded": 2,
    "canceled": 3,
    "skipped": 4,
}
STILL_RUNNING = 5
POLL_SECONDS = 1.0
RIVER_ID = re.compile(r"[0-9a-f]{24}")
MISSING_SCOPE = re.compile(r"lacks the scope '([a-z_]+:[a-z_]+)'")


class ApiClient:
    def __init__(self, url: str, token: str) -> None:
        self._client = httpx.Client(
            base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            scope = MISSING_SCOPE.search(str(detail)) if response.status_code == 403 else None
            if scope:
                raise fail(
                    f"the token lacks the scope {scope.group(1)!r} ({method} {path}); "
                    f"create a token that also holds it: headwater tokens create --scope "
                    f"{scope.group(1)} ..."
                )
            raise fail(f"{method} {path} answered {response.status_code}: {detail}")
        return response.json()

    def close(self) -> None:
        self._client.close()


def _river_id(client: ApiClient, prefix: str, river: str) -> str:
    """The id of ``river`` (an id, or a river's exact name) through the API."""
    if RIVER_ID.fullmatch(river):
        return river
    page = client.call("GET", f"{prefix}/rivers", params={"name": river, "items_per_page": 100})
    exact = [item for item in page["items"] if item["name"] == river]
    if not exact:
        raise fail(f"no river named {river!r} ('headwater rivers list' shows them)")
    return str(exact[0]["river_id"])


def run(
    river: str = typer.Argument(help="The river (data flow): its id or its name."),
    wait: bool = typer.Option(False, "--wait", help="Follow the run until it ends."),
    local: bool = typer.Option(
        False,
        "--local",
        help="Run in this process on the metadata DB (the default without --url or a token).",
    ),
    url: str | None = typer.Option(
        None,
        help="Base URL of a Headwater API to run through (needs a token). Default without a "
        "token: run here, on the metadata DB, as the account's admin.",
    ),
    token: str | None = typer.Option(
        None, envvar="HEADWATER_TOKEN", help="API token (or HEADWATER_TOKEN)."
    ),
    environment: str | None = typer.Option(None, help="Environment id (default: the token's)."),
    timeout: float = typer.Option(3600.0, help="Seconds to wait with --wait."),
) -> None:
    """Run a river now; with --wait, show progress and exit with its final status.

    Without --url and without a token the run happens in this process, on the metadata DB of
    this machine, acting as the account's first admin (audited); it always waits then.
    """
    console = Console(stderr=True)
    if local or (url is None and not token):
        from headwater.cli.run_local import run_local

        status = run_local(river, environment, console, timeout)
        typer.echo(f"final status: {status}")
        raise typer.Exit(EXIT_CODES.get(status, STILL_RUNNING))
    if not token:
        raise fail(
            "an API token is needed with --url: --token or HEADWATER_TOKEN "
            "(on the server's own machine, leave out --url to run without one)"
        )
    base = url or os.environ.get("HEADWATER_PUBLIC_URL") or "http://127.0.0.1:8000"
    client = ApiClient(base, token)
    try:
        me = client.call("GET", "/api/me")
        env = environment or me["environment_id"]
        environment_prefix = f"/v1/accounts/{me['account_id']}/environments/{env}"
        river_id = _river_id(client, environment_prefix, river)
        prefix = f"{environment_prefix}/rivers/{river_id}"
        started = client.call("POST", f"{prefix}/run")
        typer.echo(f"run group {started['run_group_id']}: {started['status']}")
        if not wait:
            return
        status = _follow(client, prefix, [r["run_id"] for r in started["runs"]], console, timeout)
    finally:
        client.close()
    typer.echo(f"final status: {status}")
    raise typer.Exit(EXIT_CODES.get(status, STILL_RUNNING))


def _follow(
    client: ApiClient, prefix: str, run_ids: list[str], console: Console, timeout: float
) -> str:
    from rich.live import Live

    deadline = time.monotonic() + timeout
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            runs = [client.call("GET", f"{prefix}/runs/{run_id}") for run_id in run_ids]
            live.update(run_table(runs))
            status = derive_group_status([r["status"] for r in runs])
            if status in EXIT_CODES or time.monotonic() > deadline:
                return status
            time.sleep(POLL_SECONDS)
