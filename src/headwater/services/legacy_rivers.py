"""Mapping between Headwater rivers and the legacy ``river_definitions``/``tasks_definitions``
shape that ``rivery-cli`` 0.4.0 reads (``rivers import``) and writes (``rivers push``).

Logic rivers map step by step (``logic_steps`` nodes with ``content`` for steps and ``nodes``
for containers); other types carry Headwater's ``properties`` as their ``task_config``. Fields
the legacy shape cannot carry (or that rivery-cli drops on import, e.g. a container's
condition) are kept from the river's current definition, matched by position and type, so an
import/push round trip never loses them.
"""

from __future__ import annotations

from typing import Any

from headwater.errors import InvalidFields
from headwater.schemas.rivers import CANONICAL_TYPES
from headwater.schemas.rivers_logic import CODE_STEP_TYPES, CONTAINER_TYPES

LEGACY_TYPE = {"src_to_trgt": "src_to_trgt", "logic": "logic", "actions": "action"}
CONTAINER_RUNNING = {"run_once": "run_once", "loop": "loop_over", "condition": "condition"}
SET_BY_STEP = "set_by_step"
#: A ``dbt`` or ``python`` step in legacy ``content`` (the legacy shape has no such block).
CODE_STEP_KEY = "headwater_step"
CONTAINER_FROM_LEGACY = {
    "run_once": "run_once",
    "loop_over": "loop",
    "loop": "loop",
    "condition": "condition",
    "conditions": "condition",
}


def _node_to_legacy(node: dict[str, Any], index: int) -> dict[str, Any]:
    kind = node["type"]
    out: dict[str, Any] = {
        "step_name": node.get("name") or f"Step {index + 1}",
        "isEnabled": node.get("is_enabled", True),
        "continue_on_failure": node.get("continue_on_failure", False),
    }
    if kind in CONTAINER_TYPES:
        out["container_running"] = CONTAINER_RUNNING[kind]
        out["isParallel"] = kind == "loop" and node.get("mode") == "parallel"
        if kind == "loop":
            out["loop_over_value"] = node["variable"]
            out["loop_over_variable_name"] = (
                [node["item_variable"]] if node.get("item_variable") else []
            )
            out["max_parallel"] = node.get("max_parallel", 4)
        if kind == "condition":
            out["condition"] = {
                "variable": node["variable"],
                "operator": node["operator"],
                "value": node.get("value"),
            }
        out["nodes"] = [_node_to_legacy(child, i) for i, child in enumerate(node["steps"])]
        return out
    content: dict[str, Any] = {
        "block_primary_type": kind,
        "block_type": kind,
        "block_db_type": kind,
    }
    if kind != "river":  # rivery-cli keeps only river_id of a river step's content
        content["continue_on_failure"] = node.get("continue_on_failure", False)
    if kind == "sql":
        content.update(
            gConnection=node["connection_id"],
            sql_query=node["sql"],
            target_type="variable"
            if node.get("target_variable")
            else ("table" if node.get("target_table") else "none"),
            target_table=node.get("target_table"),
            target_schema=node.get("target_schema"),
            target_loading=node.get("loading_method", "overwrite"),
            variable=node.get("target_variable"),
        )
    elif kind == "river":
        content["river_id"] = node["river_id"]
    elif kind in CODE_STEP_TYPES:
        # No legacy block for these: the v1 step rides along and comes back unchanged.
        content[CODE_STEP_KEY] = {
            k: v for k, v in node.items() if k not in {"name", "is_enabled", "continue_on_failure"}
        }
    else:
        content["action_id"] = node["river_id"]
    out.update(container_running="run_once", content=content, nodes=[])
    return out


def _set_by_steps(nodes: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for node in nodes:
        if node.get("target_variable"):
            names.append(node["target_variable"])
        names.extend(node.get("output_variables") or [])  # a python step's
        names.extend(_set_by_steps(node.get("steps") or []))
    return names


def _legacy_variables(
    variables: dict[str, Any], steps: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """River variables, plus those steps set: rivery-cli refuses a step whose target variable
    is not declared. The latter are marked so they do not become river variables on push."""
    declared: dict[str, dict[str, Any]] = {
        k: dict(v) if isinstance(v, dict) else {"value": v} for k, v in variables.items()
    }
    for name in _set_by_steps(steps):
        declared.setdefault(name, {"value": None, SET_BY_STEP: True})
    return declared


def to_legacy(definition: dict[str, Any], river_id: str, status: str) -> dict[str, Any]:
    """``{river_definitions, tasks_definitions}`` of a stored (masked) definition."""
    kind = definition["type"]
    schedulers = definition.get("schedulers") or []
    schedule: dict[str, Any] = {"isEnabled": False}
    if schedulers:
        schedule = {
            "isEnabled": bool(schedulers[0].get("is_enabled")),
            "cronExp": schedulers[0]["cron_expression"],
        }
    legacy_type = LEGACY_TYPE[kind]
    river_definitions = {
        "river_name": definition["name"],
        "river_type": legacy_type,
        "river_type_id": legacy_type,
        "source_type": legacy_type,
        "river_desc": definition.get("metadata", {}).get("description", ""),
        "is_scheduled": bool(schedule["isEnabled"]),
        "river_status": status,
        "group_id": definition.get("group_id"),
        "shared_params": {"notifications": definition.get("notifications", {})},
    }
    if kind == "logic":
        steps = definition["properties"]["steps"]
        task_config: dict[str, Any] = {
            "logic_steps": [_node_to_legacy(node, i) for i, node in enumerate(steps)],
            "datasource_id": "logic",
            "fz_batched": False,
            "variables": _legacy_variables(definition.get("variables", {}), steps),
        }
    else:
        task_config = dict(definition["properties"])
    task = {
        "task_type_id": legacy_type,
        "task_config": task_config,
        "schedule": schedule,
        "river_id": river_id,
    }
    return {"river_definitions": river_definitions, "tasks_definitions": [task]}


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _same_type(previous: list[Any] | None, index: int, kind: str) -> dict[str, Any]:
    if previous and index < len(previous) and previous[index].get("type") == kind:
        found: dict[str, Any] = previous[index]
        return found
    return {}


def _node_from_legacy(
    node: dict[str, Any], index: int, previous: list[Any] | None
) -> dict[str, Any]:
    content = node.get("content") or {}
    enabled = (
        node.get("isEnabled", True) is not False and content.get("isEnabled", True) is not False
    )
    if content:
        kind = str(content.get("block_primary_type") or "sql")
    else:
        kind = CONTAINER_FROM_LEGACY.get(str(node.get("container_running") or "run_once"), "")
    prev = _same_type(previous, index, kind)
    out: dict[str, Any] = {
        "type": kind,
        "name": str(node.get("step_name") or prev.get("name") or ""),
        "is_enabled": enabled,
        "continue_on_failure": bool(
            _first(
                node.get("continue_on_failure"),
                content.get("continue_on_failure"),
                prev.get("continue_on_failure"),
                False,
            )
        ),
    }
    if not content:
        children = node.get("nodes") or node.get("steps") or []
        out["steps"] = [
            _node_from_legacy(child, i, prev.get("steps")) for i, child in enumerate(children)
        ]
        if kind == "loop":
            names = node.get("loop_over_variable_name") or []
            out["variable"] = _first(node.get("loop_over_value") or None, prev.get("variable"))
            out["item_variable"] = _first(names[0] if names else None, prev.get("item_variable"))
            out["mode"] = "parallel" if node.get("isParallel") else "sequential"
            out["max_parallel"] = _first(node.get("max_parallel"), prev.get("max_parallel"), 4)
        if kind == "condition":
            condition = node.get("condition") or {
                k: prev.get(k) for k in ("variable", "operator", "value") if k in prev
            }
            out.update(condition)
        return out
    if kind == "sql":
        target_type = content.get("target_type")
        out.update(
            connection_id=_first(content.get("gConnection"), content.get("connection_id")),
            sql=_first(content.get("sql_query"), content.get("sql")),
            target_table=content.get("target_table") if target_type == "table" else None,
            target_schema=content.get("target_schema") if target_type == "table" else None,
            loading_method=_first(content.get("target_loading"), prev.get("loading_method"))
            or "overwrite",
            target_variable=content.get("variable") if target_type == "variable" else None,
        )
    elif kind in {"river", "action"}:
        out["river_id"] = _first(content.get("river_id"), content.get("action_id"))
    elif kind in CODE_STEP_TYPES:
        step = content.get(CODE_STEP_KEY)
        fields = step if isinstance(step, dict) else prev
        out.update({k: v for k, v in fields.items() if k not in out and k != "steps"})
        out["type"] = kind
    return out


def _is_private(value: Any) -> bool:
    return isinstance(value, dict) and bool(value.get("is_private"))


def _variables(raw: Any) -> dict[str, Any]:
    """River variables from legacy ones; a private one stays ``{"value", "is_private"}`` so
    its mask, sent back, keeps the stored value."""
    if not isinstance(raw, dict):
        return {}
    return {
        k: _variable_from_legacy(v)
        for k, v in raw.items()
        if not (isinstance(v, dict) and v.get(SET_BY_STEP))
    }


def _variable_from_legacy(value: Any) -> Any:
    """A private or raw variable stays an object (its mask sent back keeps the stored value,
    its ``raw`` opt-in survives a rivery-cli round trip); others become plain values."""
    if not isinstance(value, dict):
        return value
    if not (_is_private(value) or value.get("raw")):
        return value.get("value")
    kept: dict[str, Any] = {"value": value.get("value")}
    if _is_private(value):
        kept["is_private"] = True
    if value.get("raw"):
        kept["raw"] = True
    return kept


def _cron(expression: str) -> str:
    """Quartz-style 6/7-field expressions (seconds, ``?``) as 5-field UTC cron."""
    fields = expression.split()
    if len(fields) in (6, 7):
        fields = fields[1:6]
    return " ".join("*" if f == "?" else f for f in fields)


def from_legacy(payload: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """A v1 river body from a legacy payload; ``current`` fills what the payload lacks."""
    current = current or {}
    definitions = payload.get("river_definitions") or {}
    tasks = payload.get("tasks_definitions") or []
    if not isinstance(definitions, dict) or not isinstance(tasks, list):
        raise InvalidFields([("river_definitions", "river_definitions must be an object")])
    raw_type = str(definitions.get("river_type") or definitions.get("river_type_id") or "")
    kind = CANONICAL_TYPES.get(raw_type) or current.get("type")
    if kind is None:
        raise InvalidFields([("river_definitions.river_type", f"unknown river type {raw_type!r}")])
    task = tasks[0] if tasks and isinstance(tasks[0], dict) else {}
    config = task.get("task_config") or {}
    body: dict[str, Any] = {
        "name": _first(definitions.get("river_name"), current.get("name")),
        "type": kind,
        "metadata": {
            "description": _first(
                definitions.get("river_desc"), current.get("metadata", {}).get("description"), ""
            )
        },
        "group_id": _first(definitions.get("group_id"), current.get("group_id")),
        "settings": current.get("settings", {}),
        "notifications": current.get("notifications", {}),
        "variables": current.get("variables", {}),
        "schedulers": current.get("schedulers", []),
    }
    notifications = (definitions.get("shared_params") or {}).get("notifications")
    if isinstance(notifications, dict) and set(notifications) <= {"on_failure", "on_success"}:
        body["notifications"] = notifications
    schedule = task.get("schedule") or {}
    if schedule.get("cronExp"):
        body["schedulers"] = [
            {
                "cron_expression": _cron(str(schedule["cronExp"])),
                "is_enabled": bool(schedule.get("isEnabled")),
            }
        ]
    elif "isEnabled" in schedule and body["schedulers"]:
        body["schedulers"] = [{**body["schedulers"][0], "is_enabled": bool(schedule["isEnabled"])}]
    if kind == "logic":
        previous = (
            current.get("properties", {}).get("steps") if current.get("type") == "logic" else None
        )
        steps = config.get("logic_steps") or []
        body["properties"] = {
            "steps": [_node_from_legacy(node, i, previous) for i, node in enumerate(steps)]
        }
        if "variables" in config:
            body["variables"] = _variables(config["variables"])
    else:
        body["properties"] = config or current.get("properties", {})
    return body
