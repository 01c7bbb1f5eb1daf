"""The logic-river step editor's form, both ways: a flat list of step rows, each with a nesting
level, <-> the API's tree of steps; API error locations -> the step row they concern.

Rows are flat so the page stays a plain form a keyboard can walk: a row whose level is one more
than a container's (``condition``, ``loop``, ``run_once``) above it is inside that container.
Validation stays the API's: the tree goes to ``RIVER_IN`` and ``services.rivers`` unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headwater.web.builder_form import schedule_zone, schedulers_field

STEP_TYPES = ("sql", "river", "action", "condition", "loop", "run_once", "dbt", "python")
CONTAINERS = frozenset({"condition", "loop", "run_once"})
OPERATORS = ("equals", "not_equals", "greater_than", "less_than", "in", "is_empty")
MAX_LEVEL = 5
#: Row field -> the step field it edits (the rest are shared: type, level, name, enabled).
FIELDS = {
    "connection": "connection_id",
    "sql": "sql",
    "target_table": "target_table",
    "target_variable": "target_variable",
    "river": "river_id",
    "variable": "variable",
    "operator": "operator",
    "value": "value",
    "item_variable": "item_variable",
    "project_dir": "project_dir",
    "git_url": "git_url",
    "git_ref": "git_ref",
    "command": "command",
    "select": "select",
    "exclude": "exclude",
    "script": "script",
    "function": "function",
    "timeout_seconds": "timeout_seconds",
    "memory_mb": "memory_mb",
    "connection_ids": "connection_ids",
}
#: dbt commands the editor offers (``schemas.rivers_logic.DbtStep.command``).
DBT_COMMANDS = ("build", "run", "test", "seed", "snapshot")
#: Row fields that hold numbers: sent as numbers so the API's own limits answer.
NUMBERS = frozenset({"timeout_seconds", "memory_mb"})
BY_STEP_FIELD = {v: k for k, v in FIELDS.items()}


@dataclass
class StepRow:
    type: str = ""
    level: int = 0
    name: str = ""
    enabled: bool = True
    values: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str:
        return self.values.get(key, "")


@dataclass
class LogicState:
    values: dict[str, str] = field(default_factory=dict)
    steps: list[StepRow] = field(default_factory=list)

    def get(self, key: str) -> str:
        return self.values.get(key, "")


def _int(value: Any, top: int) -> int:
    try:
        return min(top, max(0, int(str(value))))
    except ValueError:
        return 0


def state_from_form(form: Mapping[str, Any]) -> LogicState:
    """Rows in the order posted (the page's Up/Down buttons reorder them in the DOM)."""
    state = LogicState(
        values={
            k: str(form.get(k, "")).strip()
            for k in ("name", "description", "cron", "timezone", "vars")
        }
    )
    indexes = sorted(
        {_int(k[1:].split("_", 1)[0], 10_000) for k in form if k.startswith("s") and "_" in k}
    )
    order = [str(form.get("step_order", "")).split(",")]
    posted = [_int(i, 10_000) for i in order[0] if i.strip().isdigit()] or indexes
    for i in posted:
        kind = str(form.get(f"s{i}_type", ""))
        if kind not in STEP_TYPES:
            continue
        state.steps.append(
            StepRow(
                type=kind,
                level=_int(form.get(f"s{i}_level", 0), MAX_LEVEL),
                name=str(form.get(f"s{i}_name", "")).strip(),
                enabled=f"s{i}_enabled" in form,
                values={k: _posted(form, f"s{i}_{k}", many=k == "connection_ids") for k in FIELDS},
            )
        )
    return state


def _posted(form: Mapping[str, Any], key: str, *, many: bool = False) -> str:
    """One field as text; a multiple choice (``connection_ids``) comma-joined."""
    getlist = getattr(form, "getlist", None)
    if many and getlist is not None:
        return ",".join(str(v).strip() for v in getlist(key) if str(v).strip())
    return str(form.get(key, "")).strip()


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # the API names the field and says what it wants


def _value(text: str) -> Any:
    """A condition value or variable as typed: JSON when it parses (numbers, lists), else text."""
    if text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _node(row: StepRow) -> dict[str, Any]:
    node: dict[str, Any] = {"type": row.type, "name": row.name, "is_enabled": row.enabled}
    wanted = {
        "sql": ("connection", "sql", "target_table", "target_variable"),
        "river": ("river",),
        "action": ("river",),
        "condition": ("variable", "operator", "value"),
        "loop": ("variable", "item_variable"),
        "run_once": (),
        "dbt": ("connection", "project_dir", "git_url", "git_ref", "command", "select", "exclude"),
        "python": ("script", "function", "timeout_seconds", "memory_mb", "connection_ids"),
    }[row.type]
    for key in wanted:
        text = row.get(key)
        if key == "value":
            node["value"] = _value(text)
        elif key == "connection_ids":
            node["connection_ids"] = [c for c in text.split(",") if c]
        elif key in NUMBERS and text:
            node[FIELDS[key]] = _number(text)
        elif text or key in {"connection", "sql", "river", "variable", "operator", "script"}:
            node[FIELDS[key]] = text
    if row.type in CONTAINERS:
        node["steps"] = []
    return node


@dataclass
class BuiltLogic:
    body: dict[str, Any]
    #: Tree path of each step (indexes through ``steps``) -> its row index in the form.
    places: dict[tuple[int, ...], int]


def build_body(state: LogicState, keep: Mapping[str, Any] | None = None) -> BuiltLogic:
    """The ``POST .../rivers`` body; a row deeper than the container above it nests in it."""
    top: list[dict[str, Any]] = []
    stack: list[tuple[int, list[dict[str, Any]], tuple[int, ...]]] = [(-1, top, ())]
    places: dict[tuple[int, ...], int] = {}
    for index, row in enumerate(state.steps):
        while len(stack) > 1 and row.level <= stack[-1][0]:
            stack.pop()
        _level, siblings, path = stack[-1]
        node = _node(row)
        here = (*path, len(siblings))
        siblings.append(node)
        places[here] = index
        if row.type in CONTAINERS:
            stack.append((row.level, node["steps"], here))
    old = dict(keep or {})
    body: dict[str, Any] = {
        "name": state.get("name"),
        "type": "logic",
        "metadata": {"description": state.get("description")},
        "properties": {"steps": top},
        "schedulers": schedulers_field(state.get("cron"), state.get("timezone")),
        "variables": variables_from_text(state.get("vars")),
    }
    for kept in ("group_id", "settings", "notifications"):
        if old.get(kept) is not None:
            body[kept] = old[kept]
    return BuiltLogic(body, places)


def variables_from_text(text: str) -> dict[str, Any]:
    """River variables from ``name=value`` lines (JSON for numbers, lists and private ones)."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if line.strip():
            name, _, value = line.partition("=")
            found[name.strip()] = _value(value.strip())
    return found


def field_errors(
    errors: Sequence[tuple[Sequence[Any], str]], places: Mapping[tuple[int, ...], int]
) -> dict[str, str]:
    """``s{row}_{field}`` (or ``s{row}``, ``name``, ``cron``, ``vars``, ``form``) -> message."""
    found: dict[str, str] = {}
    for loc, message in errors:
        path = [p for p in loc if p != "body"]
        key = _key(path, places)
        found[key] = f"{found[key]} {message}".strip() if key in found else message
    return found


def _key(path: list[Any], places: Mapping[tuple[int, ...], int]) -> str:
    if path[:1] == ["logic"]:
        path = path[1:]
    if path[:2] != ["properties", "steps"]:
        top = {"name": "name", "schedulers": "cron", "variables": "vars"}
        if path[:1] == ["schedulers"] and path[-1:] == ["timezone"]:
            return "timezone"
        return top.get(str(path[0]) if path else "", "form")
    rest, tree = path[2:], []
    while rest and str(rest[0]).isdigit():
        tree.append(int(rest[0]))
        rest = rest[1:]
        if rest and rest[0] in STEP_TYPES:
            rest = rest[1:]  # a discriminated union's tag
        if len(rest) > 1 and rest[0] == "steps" and str(rest[1]).isdigit():
            rest = rest[1:]
            continue
        break
    row = places.get(tuple(tree))
    if row is None:
        return "steps"
    suffix = BY_STEP_FIELD.get(str(rest[0]), "") if rest else ""
    return f"s{row}_{suffix}" if suffix else f"s{row}"


def variables_text(variables: Mapping[str, Any]) -> str:
    """The ``name=value`` lines of saved river variables (a private one's value is masked)."""
    return "\n".join(
        f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in variables.items()
    )


def state_from_definition(definition: Mapping[str, Any]) -> LogicState:
    schedulers = definition.get("schedulers") or []
    variables = definition.get("variables") or {}
    state = LogicState(
        values={
            "name": str(definition.get("name", "")),
            "description": str(definition.get("metadata", {}).get("description", "")),
            "cron": str(schedulers[0].get("cron_expression", "")) if schedulers else "",
            "timezone": schedule_zone(schedulers),
            "vars": variables_text(variables),
        }
    )

    def walk(nodes: list[dict[str, Any]], level: int) -> None:
        for node in nodes:
            values = {}
            for key, step_field in FIELDS.items():
                raw = node.get(step_field)
                if key == "connection_ids" and isinstance(raw, list):
                    values[key] = ",".join(str(c) for c in raw)
                elif raw is not None:
                    values[key] = raw if isinstance(raw, str) else json.dumps(raw)
            state.steps.append(
                StepRow(
                    type=str(node.get("type", "")),
                    level=level,
                    name=str(node.get("name", "")),
                    enabled=bool(node.get("is_enabled", True)),
                    values=values,
                )
            )
            walk(node.get("steps") or [], level + 1)

    walk(list(definition.get("properties", {}).get("steps") or []), 0)
    return state
