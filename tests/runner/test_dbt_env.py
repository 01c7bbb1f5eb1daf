"""Preparing a ``dbt`` step: git URLs and the outbound policy, fetching a project from a real
local repository, project paths, and the run's profiles.yml (its permissions, its targets)."""

from __future__ import annotations

import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from headwater.runner import dbt_env
from headwater.runner.dbt_env import DbtSetupError
from headwater.settings import Settings
from tests._services import require_service

PROJECT = Path(__file__).with_name("dbt_project")
LINES: list[tuple[str, str]] = []


def log(level: str, message: str) -> None:
    LINES.append((level, message))


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="k" * 32, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "https://git.internal/org/project.git",
        "ssh://git@git.internal/org/project.git",
        "git@git.internal:org/project.git",
    ],
)
def test_https_and_ssh_urls_to_allowed_hosts_pass(tmp_path: Path, url: str) -> None:
    production = settings(tmp_path, mode="production", outbound_allowlist="git.internal")
    dbt_env.check_git_url(url, production)  # an allow-listed host is not resolved


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/p.git", "https or ssh"),
        ("ext::sh -c touch% /tmp/pwned", "https or ssh"),
        ("--upload-pack=touch /tmp/x", "https or ssh"),
        ("file:///srv/repo.git", "file:// only in development"),
        ("https://127.0.0.1/repo.git", "blocked"),
        ("git@127.0.0.1:repo.git", "blocked"),
        ("git@-oProxyCommand:repo.git", "https or ssh"),
    ],
)
def test_other_schemes_and_private_hosts_are_refused_in_production(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(DbtSetupError, match=message):
        dbt_env.check_git_url(url, settings(tmp_path, mode="production"))


def test_a_project_is_fetched_from_git_at_a_ref(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(PROJECT, work / "analytics")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(work)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    subprocess.run([*git, "tag", "v1"], check=True)
    (work / "analytics" / "models" / "later.sql").write_text("select 1 as x\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "two"], check=True)
    bare = tmp_path / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    into = tmp_path / "run"
    into.mkdir()
    project = dbt_env.fetch_project(
        settings(tmp_path), f"file://{bare}", "v1", "analytics", into, log, threading.Event()
    )
    assert (project / "dbt_project.yml").is_file()
    assert not (project / "models" / "later.sql").exists()  # the tag, not the branch head
    assert dbt_env.profile_name(project) == "headwater_test"
    other = tmp_path / "run2"
    other.mkdir()
    with pytest.raises(DbtSetupError, match=r"no dbt_project\.yml"):
        dbt_env.fetch_project(
            settings(tmp_path), f"file://{bare}", "main", "../..", other, log, threading.Event()
        )
    missing = tmp_path / "run3"
    missing.mkdir()
    with pytest.raises(DbtSetupError, match="fetching 'nope'"):
        dbt_env.fetch_project(
            settings(tmp_path), f"file://{bare}", "nope", "", missing, log, threading.Event()
        )


def test_project_dirs_are_copied_and_may_be_confined(tmp_path: Path) -> None:
    into = tmp_path / "run"
    into.mkdir()
    copied = dbt_env.copy_project(settings(tmp_path), str(PROJECT), into)
    assert (copied / "models" / "customer_totals.sql").is_file()
    confined = settings(tmp_path, dbt_projects_dir=tmp_path / "projects")
    with pytest.raises(DbtSetupError, match="outside HEADWATER_DBT_PROJECTS_DIR"):
        dbt_env.copy_project(confined, str(PROJECT), tmp_path / "run-b")
    with pytest.raises(DbtSetupError, match=r"has no dbt_project\.yml"):
        dbt_env.copy_project(settings(tmp_path), str(tmp_path), tmp_path / "run-c")


def test_profiles_are_private_and_name_the_projects_profile(tmp_path: Path) -> None:
    props = {"host": "db", "database": "wh", "username": "u", "password": "s3cret"}
    directory = dbt_env.write_profiles(tmp_path, "analytics", "postgres", props, "hw-dbt-run1")
    path = directory / "profiles.yml"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    target = yaml.safe_load(path.read_text())["analytics"]["outputs"]["headwater"]
    assert target == {
        "type": "postgres",
        "host": "db",
        "port": 5432,
        "user": "u",
        "password": "s3cret",
        "dbname": "wh",
        "schema": "public",
        "sslmode": "prefer",
        "threads": 4,
        "application_name": "hw-dbt-run1",
    }
    duck = dbt_env.profile_target("duckdb", {"path": "/data/w.duckdb"})
    assert duck == {"type": "duckdb", "path": "/data/w.duckdb", "threads": 1}
    with pytest.raises(DbtSetupError, match="support postgres and duckdb connections; 'mysql'"):
        dbt_env.profile_target("mysql", {})


def test_a_project_without_a_profile_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    with pytest.raises(DbtSetupError, match="names no profile"):
        dbt_env.profile_name(tmp_path)


def test_queries_a_stopped_dbt_left_are_cancelled_by_application_name() -> None:
    """What a killed dbt leaves running is found by the run's application_name and cancelled;
    other sessions of the same user are left alone."""
    require_service("postgres")
    props = {"host": "127.0.0.1", "port": 5432, "username": "postgres", "database": "postgres"}
    ours = dbt_env.application_name_for("a" * 32)
    outcomes: dict[str, str] = {}

    def sleep_as(name: str) -> None:
        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", application_name=name
        ) as conn:
            try:
                conn.execute("SELECT pg_sleep(20)")
                outcomes[name] = "finished"
            except psycopg.errors.QueryCanceled:
                outcomes[name] = "cancelled"

    other = "headwater-test-bystander"
    threads = [threading.Thread(target=sleep_as, args=(name,)) for name in (ours, other)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        while c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name IN (%s, %s) "
            "AND state = 'active'",
            (ours, other),
        ).fetchone() != (2,):
            assert time.monotonic() < deadline, "the sleeping sessions never showed up"
            time.sleep(0.05)
        logged: list[tuple[str, str]] = []
        assert (
            dbt_env.cancel_left_queries("postgres", props, ours, lambda *a: logged.append(a)) == 1
        )
        threads[0].join(timeout=10)
        assert outcomes == {ours: "cancelled"}
        assert "cancelled 1 query" in logged[0][1]
        c.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (other,),
        )
    threads[1].join(timeout=10)
    assert dbt_env.cancel_left_queries("duckdb", {"path": "x"}, ours, lambda *a: None) == 0
