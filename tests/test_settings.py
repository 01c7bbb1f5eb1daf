"""Settings: defaults, data dir and key file creation, masking, generated reference docs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from headwater.settings import Settings, effective_settings, settings_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_has_a_description() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_reads_headwater_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_EXECUTOR", "celery")
    monkeypatch.setenv("HEADWATER_PORT", "9001")
    settings = Settings()
    assert settings.executor == "celery" and settings.port == 9001


def test_default_database_is_sqlite_in_created_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "nested" / "data"
    settings = Settings(data_dir=data)
    assert settings.resolved_database_url() == f"sqlite:///{data / 'headwater.db'}"
    assert data.is_dir()


def test_postgres_urls_use_psycopg3() -> None:
    settings = Settings(database_url="postgresql://u:p@h:5432/d")
    assert settings.resolved_database_url() == "postgresql+psycopg://u:p@h:5432/d"


def test_secret_key_file_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = settings.resolved_secret_key()
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32
    assert Settings(data_dir=tmp_path).resolved_secret_key() == key


def test_effective_settings_mask_secrets(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql://bob:hunter2@db:5432/meta",
        secret_key="k" * 40,  # type: ignore[arg-type]
        admin_password="pw-visible?",  # type: ignore[arg-type]
    )
    shown = effective_settings(settings)
    text = repr(shown)
    assert "hunter2" not in text and "k" * 40 not in text and "pw-visible?" not in text
    assert shown["secret_key"] == "***" and shown["admin_password"] == "***"
    assert shown["database_url"] == "postgresql+psycopg://bob:***@db:5432/meta"


def test_settings_reference_in_docs_and_readme_is_current() -> None:
    table = settings_markdown()
    assert all(f"HEADWATER_{name.upper()}" in table for name in Settings.model_fields)
    assert table in (ROOT / "docs" / "settings.md").read_text()
    assert table in (ROOT / "README.md").read_text()
