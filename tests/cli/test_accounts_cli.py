"""``headwater accounts create/list`` and ``headwater users instance-admin`` on the metadata DB."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from headwater.cli.main import app
from headwater.security.passwords import verify_password
from headwater.settings import Settings
from headwater.store.engine import make_engine, make_session_factory
from headwater.store.models import Account, AuditEvent, Environment, User

runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "HEADWATER_DATA_DIR": str(tmp_path / "data"),
        "HEADWATER_ADMIN_EMAIL": "root@example.com",
        "HEADWATER_ADMIN_PASSWORD": "root-password",
    }


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=_env(tmp_path))
    return result.exit_code, result.stdout, result.stderr


def test_create_json_prints_ids_and_the_generated_password_once(tmp_path: Path) -> None:
    code, out, err = _run(
        tmp_path,
        "accounts",
        "create",
        "--name",
        "Tenant B",
        "--admin-email",
        "B@Example.com",
        "--json",
    )
    assert code == 0, err
    created = json.loads(out)
    assert set(created) == {"account_id", "environment_id", "admin_id", "admin_email", "password"}
    assert created["admin_email"] == "b@example.com" and len(created["password"]) >= 12
    engine = make_engine(Settings(data_dir=tmp_path / "data").resolved_database_url())
    try:
        with make_session_factory(engine)() as session:
            account = session.get_one(Account, created["account_id"])
            assert account.name == "Tenant B" and account.plan == "pro"
            environment = session.get_one(Environment, created["environment_id"])
            assert environment.account_id == account.id and environment.is_default
            admin = session.get_one(User, created["admin_id"])
            assert admin.role == "admin" and not admin.is_instance_admin
            assert verify_password(admin.password_hash, created["password"])
            root = session.scalars(select(User).where(User.email == "root@example.com")).one()
            assert root.is_instance_admin and root.account_id != account.id
            event = session.scalars(
                select(AuditEvent).where(AuditEvent.account_id == account.id)
            ).one()
            assert event.action == "account.created" and event.details["via"] == "cli"
            assert event.actor_type == "instance_admin" and event.actor_user_id is None
    finally:
        engine.dispose()


def test_given_password_is_not_printed_and_list_shows_every_account(tmp_path: Path) -> None:
    code, out, _err = _run(
        tmp_path,
        "accounts",
        "create",
        "--name",
        "Tenant C",
        "--admin-email",
        "c@example.com",
        "--admin-password",
        "c-password-long",
        "--plan",
        "enterprise",
    )
    assert code == 0 and "c-password-long" not in out and "generated" not in out
    assert "created account 'Tenant C'" in out
    code, out, _err = _run(tmp_path, "accounts", "list", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["plan"], r["disabled"]) for r in rows] == [
        ("Default account", "pro", False),
        ("Tenant C", "enterprise", False),
    ]
    assert rows[1]["admin_emails"] == ["c@example.com"] and rows[1]["users"] == 1
    code, out, _err = _run(tmp_path, "accounts", "list")
    assert code == 0 and "Tenant C" in out and "c@example.com" in out


def test_errors_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    for args, message in (
        (("--admin-email", "root@example.com"), "already exists"),
        (("--admin-email", "nope"), "Invalid e-mail"),
        (("--admin-email", "d@example.com", "--plan", "gold"), "Unknown plan"),
        (("--admin-email", "d@example.com", "--admin-password", "short"), "8 characters"),
    ):
        code, out, err = _run(tmp_path, "accounts", "create", "--name", "D", *args)
        assert code == 1, (args, out)
        assert message in err and len(err.strip().splitlines()) == 1, err
    _code, out, _err = _run(tmp_path, "accounts", "list", "--json")
    assert len(json.loads(out)) == 1


def test_instance_admin_can_be_granted_and_revoked_but_never_the_last(tmp_path: Path) -> None:
    _run(tmp_path, "accounts", "create", "--name", "B", "--admin-email", "b@example.com")
    code, out, err = _run(tmp_path, "users", "instance-admin", "b@example.com")
    assert code == 0 and "b@example.com is an instance admin" in out, err
    code, out, err = _run(tmp_path, "users", "instance-admin", "root@example.com", "--revoke")
    assert code == 0 and "is no longer" in out, err
    code, _out, err = _run(tmp_path, "users", "instance-admin", "b@example.com", "--revoke")
    assert code == 1 and "last instance admin" in err
    code, _out, err = _run(tmp_path, "users", "instance-admin", "ghost@example.com")
    assert code == 1 and "No user" in err
    # the command now acts as B's admin, the remaining instance admin
    code, out, err = _run(tmp_path, "accounts", "create", "--name", "C", "--admin-email", "c@x.io")
    assert code == 0, err
