"""``headwater run RIVER_ID``: run a river through the API (or ``--local``) and follow it.

Exit codes: 0 succeeded, 1 failed, 2 partially succeeded, 3 canceled, 4 skipped, 5 still
running when ``--timeout`` passed.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

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


def _rate(run: dict[str, Any]) -> str:
    """Rows per second since the run started (to its end once it ended)."""
    started = run.get("start_date_in_milliseconds") or 0
    ended = run.get("end_date_in_milliseconds") or int(time.time() * 1000)
    seconds = (ended - started) / 1000
    if not started or seconds <= 0 or run["status"] == "pending":
        return ""
    return f"{run.get('total_rows', 0) / seconds:,.0f} rows/s"


def _table(runs: list[dict[str, Any]]) -> Table:
    table = Table("target", "status", "rows", "bytes", "rate", "error")
    for run in runs:
        table.add_row(
            str(run.get("target_name") or run.get("source_name") or run["run_id"]),
            str(run["status"]),
            f"{run.get('total_rows', 0):,}",
            f"{run.get('total_size', 0):,}",
            _rate(run),
            str(run.get("error_description") or ""),
        )
    return table


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
            raise typer.BadParameter(f"{method} {path} answered {response.status_code}: {detail}")
        return response.json()

    def close(self) -> None:
        self._client.close()


def run(
    river_id: str = typer.Argument(help="The river (data flow) id."),
    wait: bool = typer.Option(False, "--wait", help="Follow the run until it ends."),
    local: bool = typer.Option(
        False, "--local", help="Run in this process on the metadata DB (no server needed)."
    ),
    url: str = typer.Option(
        lambda: os.environ.get("HEADWATER_PUBLIC_URL") or "http://127.0.0.1:8000",
        help="Base URL of the Headwater API.",
    ),
    token: str | None = typer.Option(
        None, envvar="HEADWATER_TOKEN", help="API token (or HEADWATER_TOKEN)."
    ),
    environment: str | None = typer.Option(None, help="Environment id (default: the token's)."),
    timeout: float = typer.Option(3600.0, help="Seconds to wait with --wait."),
) -> None:
    """Run a river now; with --wait, show progress and exit with its final status."""
    console = Console(stderr=True)
    if local:
        from headwater.cli.run_local import run_local

        status = run_local(river_id, console, timeout)
        raise typer.Exit(EXIT_CODES.get(status, STILL_RUNNING))
    if not token:
        raise typer.BadParameter("an API token is needed: --token or HEADWATER_TOKEN")
    client = ApiClient(url, token)
    try:
        me = client.call("GET", "/api/me")
        env = environment or me["environment_id"]
        prefix = f"/v1/accounts/{me['account_id']}/environments/{env}/rivers/{river_id}"
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
            live.update(_table(runs))
            status = derive_group_status([r["status"] for r in runs])
            if status in EXIT_CODES or time.monotonic() > deadline:
                return status
            time.sleep(POLL_SECONDS)
