"""The spec-to-form mapping: which JSON Schema shapes become inputs, and the way back."""

from __future__ import annotations

from typing import Any

from headwater.web.connector_spec_form import apply_form, build_fields

SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["api_key", "count"],
    "properties": {
        "count": {
            "type": "integer",
            "title": "Count",
            "minimum": 1,
            "order": 0,
            "description": "How many rows",
        },
        "ratio": {"type": "number"},
        "seed": {"type": ["null", "integer"], "default": 7},
        "verbose": {"type": "boolean", "default": False},
        "region": {"type": "string", "enum": ["eu", "us"]},
        "repos": {"type": "array", "items": {"type": "string"}},
        "api_key": {"type": "string", "airbyte_secret": True, "title": "API key"},
        "credentials": {"type": "object", "oneOf": [{"properties": {}}]},
        "start_date": {"type": "string", "format": "date"},
    },
}


def test_fields_cover_the_plain_shapes_and_leave_the_rest_to_json() -> None:
    fields, left = build_fields(SPEC, {"region": "us", "repos": ["a/b", "c/d"]}, {"api_key"})
    kinds = {f.name: f.kind for f in fields}
    assert kinds == {
        "count": "integer",
        "ratio": "number",
        "seed": "integer",
        "verbose": "checkbox",
        "region": "select",
        "repos": "lines",
        "api_key": "password",
        "start_date": "text",
    }
    assert left == ["credentials"]
    assert fields[0].name == "count"  # the spec's ``order`` first
    by_name = {f.name: f for f in fields}
    assert by_name["count"].required and by_name["count"].description == "How many rows"
    assert by_name["api_key"].required and by_name["api_key"].is_set
    assert by_name["api_key"].value == ""  # a secret is never rendered back
    assert by_name["region"].options == ["eu", "us"] and by_name["region"].value == "us"
    assert by_name["repos"].value == "a/b\nc/d"
    assert by_name["seed"].value == "7"  # the spec's default
    unset, _ = build_fields(SPEC, {}, set())
    assert not {f.name: f for f in unset}["api_key"].is_set


def test_a_posted_form_becomes_config_and_secrets() -> None:
    posted = {
        "s_count": "5",
        "s_ratio": "0.5",
        "s_seed": "",
        "s_verbose": "on",
        "s_region": "eu",
        "s_repos": "a/b\n\n c/d \n",
        "s_api_key": "sekret",
        "s_start_date": "2024-01-01",
    }
    kept = {"credentials": {"token": "x"}, "seed": 3, "api_key": "leaked"}
    applied = apply_form(SPEC, posted, kept, {"other": "y"})
    assert applied.errors == {}
    assert applied.config == {
        "credentials": {"token": "x"},  # the JSON fields' value, untouched
        "count": 5,
        "ratio": 0.5,
        "verbose": True,
        "region": "eu",
        "repos": ["a/b", "c/d"],
        "start_date": "2024-01-01",
    }
    assert applied.secrets == {"other": "y", "api_key": "sekret"}
    # An empty secret keeps the stored one; its "remove" box drops it.
    again = apply_form(SPEC, {"s_count": "1"}, {}, {"api_key": "stored"})
    assert again.secrets == {"api_key": "stored"} and again.config["verbose"] is False
    cleared = apply_form(SPEC, {"s_count": "1", "clear_s_api_key": "on"}, {}, {"api_key": "s"})
    assert cleared.errors == {"api_key": "Required by the connector."}


def test_bad_values_name_their_field() -> None:
    posted = {"s_count": "0", "s_ratio": "half", "s_region": "mars", "s_seed": "1.5"}
    applied = apply_form(SPEC, posted, {}, {})
    assert applied.errors == {
        "count": "The smallest value allowed is 1.",
        "ratio": "Enter a number.",
        "region": "Choose one of: eu, us",
        "seed": "Enter a whole number.",
        "api_key": "Required by the connector.",
    }
    shown, _ = build_fields(SPEC, {}, set(), posted=posted, errors=applied.errors)
    by_name = {f.name: f for f in shown}
    assert by_name["ratio"].value == "half" and by_name["ratio"].error == "Enter a number."
    missing = apply_form(SPEC, {"s_api_key": "k"}, {}, {})
    assert missing.errors == {"count": "Required by the connector."}
