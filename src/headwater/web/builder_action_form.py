"""The action-river form, both ways: posted fields -> the API's river body, a saved river ->
fields, and the API's error locations -> the field each one concerns.

The form edits the request (method, URL, headers, body), the river variables and the variables
read from the response; everything else (auth, paging, retries, timeout, a response target,
query parameters, schedule, notifications, settings, group) is kept as saved. A credential
header (``Authorization``, ``X-Api-Key``, any name with *token*, *key*, *secret*, ...) is shown
only as set or not set: an empty field sends the API's mask back, which keeps the stored value.
Nothing here decides what a valid action is: the body goes to ``RIVER_IN`` and
``services.rivers`` like ``POST .../rivers``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headwater.security.crypto import MASK
from headwater.security.redact import is_sensitive_header
from headwater.web.builder_logic_form import variables_from_text, variables_text

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
BODY_TYPES = ("none", "json", "form")
SCALARS = ("name", "description", "method", "url", "body_type", "body", "vars", "response_vars")
#: API location (after ``body``) -> form field.
TOP_FIELDS = {
    ("name",): "name",
    ("metadata", "description"): "description",
    ("variables",): "vars",
    ("properties", "request", "method"): "method",
    ("properties", "request", "url"): "url",
    ("properties", "request", "body"): "body",
    ("properties", "response", "variables"): "response_vars",
    ("properties", "request", "headers"): "headers",
}


@dataclass
class HeaderRow:
    """One request header; ``secret`` ones are never shown, only whether a value is stored."""

    name: str = ""
    value: str = ""
    stored: bool = False
    remove: bool = False

    @property
    def secret(self) -> bool:
        return bool(self.name) and is_sensitive_header(self.name)


@dataclass
class ActionState:
    values: dict[str, str] = field(default_factory=dict)
    headers: list[HeaderRow] = field(default_factory=list)

    def get(self, key: str) -> str:
        return self.values.get(key, "")


def state_from_form(form: Mapping[str, Any]) -> ActionState:
    state = ActionState(values={k: str(form.get(k, "")).strip() for k in SCALARS})
    for i in range(min(_int(form.get("header_count")), 200)):
        name = str(form.get(f"h{i}_name", "")).strip()
        if not name:
            continue
        state.headers.append(
            HeaderRow(
                name=name,
                value=str(form.get(f"h{i}_value", "")),
                stored=f"h{i}_stored" in form,
                remove=f"h{i}_remove" in form,
            )
        )
    return state


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


@dataclass
class BuiltAction:
    body: dict[str, Any]
    #: Form field -> message for what the form itself cannot turn into a body (bad JSON).
    errors: dict[str, str]


def build_body(state: ActionState, keep: Mapping[str, Any] | None = None) -> BuiltAction:
    """The ``POST .../rivers`` body; ``keep`` (the saved definition, secrets masked) supplies
    what the form does not edit."""
    old = dict(keep or {})
    errors: dict[str, str] = {}
    props = dict(old.get("properties") or {})
    request = dict(props.get("request") or {})
    request.update(
        method=state.get("method") or "GET",
        url=state.get("url"),
        headers=_headers(state.headers),
        body=_request_body(state.get("body_type"), state.get("body"), errors),
    )
    response = dict(props.get("response") or {})
    response["variables"] = _response_variables(state.get("response_vars"), errors)
    props.update(request=request, response=response)
    body: dict[str, Any] = {
        "name": state.get("name"),
        "type": "actions",
        "metadata": {"description": state.get("description")},
        "properties": props,
        "variables": variables_from_text(state.get("vars")),
    }
    for kept in ("group_id", "settings", "schedulers", "notifications"):
        if old.get(kept) is not None:
            body[kept] = old[kept]
    return BuiltAction(body, errors)


def _headers(rows: Sequence[HeaderRow]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for row in rows:
        if row.remove:
            continue
        if row.secret and not row.value and row.stored:
            headers[row.name] = MASK  # keeps the stored value
        else:
            headers[row.name] = row.value
    return headers


def _request_body(kind: str, text: str, errors: dict[str, str]) -> dict[str, Any]:
    if kind == "json":
        try:
            return {"type": "json", "content": json.loads(text) if text else None}
        except ValueError as exc:
            errors["body"] = f"not valid JSON: {exc}"
            return {"type": "json", "content": text}
    if kind == "form":
        return {"type": "form", "content": _pairs(text)}
    return {"type": "none"}


def _pairs(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


def _response_variables(text: str, errors: dict[str, str]) -> list[dict[str, str]]:
    found = []
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, path = line.partition("=")
        if not sep:
            errors["response_vars"] = f"{line.strip()!r}: write name=$.json.path"
            continue
        found.append({"name": name.strip(), "path": path.strip()})
    return found


def state_from_definition(definition: Mapping[str, Any]) -> ActionState:
    props = definition.get("properties") or {}
    request = props.get("request") or {}
    body = request.get("body") or {}
    kind = str(body.get("type") or "none")
    content = body.get("content")
    if kind == "form" and isinstance(content, dict):
        text = "\n".join(f"{k}={v}" for k, v in content.items())
    elif kind == "json":
        text = "" if content is None else json.dumps(content, indent=2)
    else:
        text = ""
    state = ActionState(
        values={
            "name": str(definition.get("name", "")),
            "description": str(definition.get("metadata", {}).get("description", "")),
            "method": str(request.get("method") or "GET"),
            "url": str(request.get("url") or ""),
            "body_type": kind,
            "body": text,
            "vars": variables_text(definition.get("variables") or {}),
            "response_vars": "\n".join(
                f"{v['name']}={v['path']}"
                for v in (props.get("response") or {}).get("variables", [])
            ),
        }
    )
    for name, value in (request.get("headers") or {}).items():
        masked = value == MASK
        state.headers.append(HeaderRow(str(name), "" if masked else str(value), stored=masked))
    return state


def field_errors(
    errors: Sequence[tuple[Sequence[Any], str]], headers: Sequence[str]
) -> dict[str, str]:
    """Form field -> message from API error locations; a header's error lands on its row."""
    found: dict[str, str] = {}
    for loc, message in errors:
        path = tuple(loc)
        if path[:1] == ("body",):
            path = path[1:]
        if path[:1] in (("actions",), ("action",)):  # a discriminated union's tag
            path = path[1:]
        if path[:3] == ("properties", "request", "headers") and len(path) > 3:
            name = str(path[3])
            key = f"h{list(headers).index(name)}" if name in headers else "headers"
        else:
            key = next(
                (TOP_FIELDS[path[:n]] for n in range(len(path), 0, -1) if path[:n] in TOP_FIELDS),
                "form",
            )
        found[key] = f"{found[key]} {message}".strip() if key in found else message
    return found
