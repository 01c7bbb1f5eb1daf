"""``headwater tokens`` and ``headwater users``: headless bootstrap on the metadata DB."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from headwater.cli.main import app
from headwater.server import create_server_app
from headwater.settings import Settings
from headwater.store.engine import make_engine, make_session_factory
from headwater.store.models import Account, ApiToken, AuditEvent, User

runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    return {"HEADWATER_DATA_DIR": str(tmp_path / "data"), "HEADWATER_ADMIN_PASSWORD": "pw"}


def _create(tmp_path: Path, *extra: str) -> dict[str, str]:
    result = runner.invoke(
        app,
        [
            "tokens",
            "create",
            "--name",
            "ci",
            "--scope",
            "me:list",
            "--scope",
            "river:list",
            "--json",
            *extra,
        ],
        env=_env(tmp_path),
    )
    assert result.exit_code == 0, result.output
    data: dict[str, str] = json.loads(result.stdout)
    return data


def test_tokens_create_json_bootstraps_and_prints_exactly_four_fields(tmp_path: Path) -> None:
    created = _create(tmp_path)
    assert set(created) == {"token", "token_id", "account_id", "environment_id"}
    assert created["token"].startswith("hwt_")
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings.resolved_database_url())
    try:
        with make_session_factory(engine)() as session:
            token = session.get_one(ApiToken, created["token_id"])
            admin = session.scalars(select(User)).one()
            assert token.created_by == admin.id and token.scopes == ["me:list", "river:list"]
            assert session.get_one(Account, created["account_id"]).plan == "pro"
            event = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "token.created")
            ).one()
            assert event.actor_type == "user" and event.details["via"] == "cli"
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_the_cli_token_authenticates_against_the_api(tmp_path: Path) -> None:
    created = _create(tmp_path)
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings.resolved_database_url())
    try:
        api = create_server_app(settings, engine=engine)
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            me = await client.get(
                "/api/me", headers={"Authorization": f"Bearer {created['token']}"}
            )
        assert me.status_code == 200
        assert me.json()["account_id"] == created["account_id"]
        assert me.json()["environment_id"] == created["environment_id"]
    finally:
        engine.dispose()


def test_tokens_list_never_shows_secrets_and_delete_removes(tmp_path: Path) -> None:
    created = _create(tmp_path)
    listed = runner.invoke(app, ["tokens", "list", "--json"], env=_env(tmp_path))
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == [created["token_id"]]
    assert rows[0]["creator"] == "admin@example.com"
    assert created["token"] not in listed.output
    text = runner.invoke(app, ["tokens", "list"], env=_env(tmp_path))
    assert "ci" in text.output and created["token"] not in text.output

    deleted = runner.invoke(app, ["tokens", "delete", created["token_id"]], env=_env(tmp_path))
    assert deleted.exit_code == 0
    assert (
        json.loads(runner.invoke(app, ["tokens", "list", "--json"], env=_env(tmp_path)).stdout)
        == []
    )
    again = runner.invoke(app, ["tokens", "delete", created["token_id"]], env=_env(tmp_path))
    assert again.exit_code == 1
    assert "was not found" in again.output


def test_tokens_create_with_environment_and_bad_scope(tmp_path: Path) -> None:
    first = _create(tmp_path)
    scoped = _create(tmp_path, "--environment", first["environment_id"])
    assert scoped["environment_id"] == first["environment_id"]
    bad = runner.invoke(
        app, ["tokens", "create", "--name", "x", "--scope", "rivers:fly"], env=_env(tmp_path)
    )
    assert bad.exit_code == 1 and "rivers:fly" in bad.output
    unknown_env = runner.invoke(
        app,
        ["tokens", "create", "--name", "x", "--scope", "me:list", "--environment", "f" * 24],
        env=_env(tmp_path),
    )
    assert unknown_env.exit_code == 1 and "f" * 24 in unknown_env.output


def test_tokens_create_text_output_shows_the_token_once(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["tokens", "create", "--name", "ci", "--scope", "me:list"], env=_env(tmp_path)
    )
    assert result.exit_code == 0
    assert sum(line.startswith("hwt_") for line in result.stdout.splitlines()) == 1
    assert "shown only once" in result.output


def test_users_create_and_list(tmp_path: Path) -> None:
    made = runner.invoke(
        app,
        ["users", "create", "--email", "Ann@example.com", "--name", "Ann", "--role", "member"],
        env=_env(tmp_path),
    )
    assert made.exit_code == 0, made.output
    assert "generated password" in made.output
    admin = runner.invoke(
        app,
        [
            "users",
            "create",
            "--email",
            "bo@example.com",
            "--name",
            "Bo",
            "--role",
            "admin",
            "--password",
            "long password",
        ],
        env=_env(tmp_path),
    )
    assert admin.exit_code == 0 and "generated password" not in admin.output
    listed = json.loads(runner.invoke(app, ["users", "list", "--json"], env=_env(tmp_path)).stdout)
    assert {(u["email"], u["role"]) for u in listed} == {
        ("admin@example.com", "admin"),
        ("ann@example.com", "member"),
        ("bo@example.com", "admin"),
    }
    duplicate = runner.invoke(
        app, ["users", "create", "--email", "ann@example.com"], env=_env(tmp_path)
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_role = runner.invoke(
        app, ["users", "create", "--email", "c@example.com", "--role", "owner"], env=_env(tmp_path)
    )
    assert bad_role.exit_code == 1 and "owner" in bad_role.output


def test_help_lists_the_new_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert "tokens" in result.output and "users" in result.output
