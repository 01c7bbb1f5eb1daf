"""Variable scoping, ``{name}`` rendering and condition operators (no database needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from headwater.runner.variables import (
    Scope,
    UnknownVariable,
    as_list,
    builtin_values,
    matches,
    plain,
    render,
    render_json,
)
from headwater.security.crypto import MASK


def test_render_text_sql_and_lists() -> None:
    scope = Scope({"day": "2026-11-01", "ids": [1, 2], "names": ["a", "o'b"], "n": 3})
    assert render("d={day}&n={n}", scope) == "d=2026-11-01&n=3"
    assert render("WHERE id IN ({ids})", scope, mode="sql") == "WHERE id IN (1, 2)"
    assert render("IN ({names})", scope, mode="sql") == "IN ('a', 'o''b')"
    assert render("{names}", scope) == "a,o'b"
    # JSON-looking text and unknown-shaped braces are left alone.
    assert render('{"a": 1} {not a var}', scope) == '{"a": 1} {not a var}'


def test_unknown_variable_is_a_clear_error() -> None:
    with pytest.raises(UnknownVariable, match=r"unknown variable \{missing\}"):
        render("x {missing}", Scope({}))


def test_render_json_keeps_the_type_of_a_whole_reference() -> None:
    scope = Scope({"ids": [1, 2], "n": 5, "who": "me"})
    body = {"ids": "{ids}", "n": "{n}", "text": "n is {n}", "{who}": ["{who}", 1, None]}
    assert render_json(body, scope) == {
        "ids": [1, 2],
        "n": 5,
        "text": "n is 5",
        "me": ["me", 1, None],
    }


def test_child_scope_keeps_its_item_local_and_writes_the_rest_through() -> None:
    root = Scope({"items": [1, 2], "total": 0})
    child = root.child({"item": 1})
    child.set("total", 10)
    child.set("item", 99)
    assert root.get("total") == 10
    assert child.get("item") == 99
    assert not root.has("item")


def test_private_values_are_masked_and_listed_as_secrets() -> None:
    root = Scope(
        {"password": "hunter2-secret", "keys": ["k-one", "k-two"], "x": 1},
        private={"password", "keys"},
    )
    child = root.child({"item": "i"})
    assert child.masked() == {"item": "i", "keys": MASK, "password": MASK, "x": 1}
    assert sorted(root.secrets()) == ["hunter2-secret", "k-one", "k-two"]


@pytest.mark.parametrize(
    ("operator", "actual", "expected", "result"),
    [
        ("equals", 3, "3", True),
        ("equals", "abc", "abd", False),
        ("not_equals", "abc", "abd", True),
        ("greater_than", 10, 9, True),
        ("greater_than", "10", "9", True),  # numbers compare as numbers
        ("greater_than", 9, 9, False),
        ("less_than", "2026-01-01", "2026-02-01", True),  # ISO dates as text
        ("in", "b", ["a", "b"], True),
        ("in", 2, [1, 3], False),
        ("is_empty", None, None, True),
        ("is_empty", [], None, True),
        ("is_empty", "", None, True),
        ("is_empty", "x", None, False),
        ("equals", None, "x", False),
        ("not_equals", None, "x", True),
    ],
)
def test_condition_operators(operator: str, actual: object, expected: object, result: bool) -> None:
    assert matches(operator, actual, expected) is result


def test_as_list_and_plain_values() -> None:
    assert as_list(None) == []
    assert as_list("one") == ["one"]
    assert as_list('["a", "b"]') == ["a", "b"]
    assert as_list([1, 2]) == [1, 2]
    assert plain(Decimal("3")) == 3
    assert plain(Decimal("2.5")) == 2.5
    assert plain(date(2026, 1, 2)) == "2026-01-02"
    assert plain((b"\x01",)) == ["01"]


def test_builtins() -> None:
    values = builtin_values(
        now=datetime(2026, 11, 1, 12, 30, 5, 123, tzinfo=UTC),
        run_id="r",
        run_group_id="g",
        river_id="v",
        river_name="n",
        account_id="a",
        environment_id="e",
    )
    assert values["run_date"] == "2026-11-01"
    assert values["run_datetime"] == "2026-11-01T12:30:05+00:00"
    assert values["run_id"] == "r" and values["run_group_id"] == "g"
