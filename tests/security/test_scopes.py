"""The scope catalogue: the names clients know, one-line descriptions, a current docs table."""

from __future__ import annotations

from pathlib import Path

from headwater.security.scopes import SCOPES, scopes_markdown, unknown_scopes

ROOT = Path(__file__).resolve().parents[2]

# Scope names of the hosted API (its reference), plus the ones Headwater had to choose.
HOSTED = {
    "me:list",
    "river:list",
    "river:edit",
    "river:execute",
    "river:delete",
    "river:write",
    "connection:list",
    "connection:edit",
    "connection:delete",
    "environment:list",
    "operations:list",
    "audit:list",
    "team:list",
    "user:list",
    "account:write",
}
CHOSEN = {
    "activities:list",
    "variables:list",
    "variables:edit",
    "token:list",
    "token:edit",
    "user:edit",
    "instance:admin",
}


def test_catalogue_has_every_known_scope() -> None:
    assert set(SCOPES) >= HOSTED | CHOSEN


def test_names_follow_the_grammar_and_descriptions_are_one_line() -> None:
    for name, description in SCOPES.items():
        entity, _, operation = name.partition(":")
        assert entity and operation and entity.replace("_", "").isalpha(), name
        assert description.strip() and "\n" not in description and len(description) < 120


def test_unknown_scopes_are_reported_once_in_order() -> None:
    assert unknown_scopes(["river:list", "x:y", "a:b", "x:y"]) == ["x:y", "a:b"]
    assert unknown_scopes(list(SCOPES)) == []


def test_scope_table_in_the_docs_is_current() -> None:
    table = scopes_markdown()
    assert all(f"`{name}`" in table for name in SCOPES)
    assert table in (ROOT / "docs" / "tokens.md").read_text()
