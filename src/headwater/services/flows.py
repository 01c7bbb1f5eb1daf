"""Flows as code: an environment as YAML documents, and back.

A document may hold ``connections``, ``groups``, ``variables`` and ``rivers``. Objects refer to
each other by name, not id (``connection: warehouse``, ``river: nightly``, ``group: core``),
so the same files apply to any environment. Secrets never appear in clear: an export writes
``${ENV_VAR}`` references, and an apply reads those variables from its own environment.

This module turns stored objects into that form (export) and a document back into v1 bodies
(apply); ``flows_apply`` plans and applies the changes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from headwater.security.crypto import SecretBox
from headwater.services import connection_types, connections, river_groups, rivers, variables
from headwater.services.envscope import EnvScope
from headwater.services.river_secrets import (
    header_env_part,
    is_header,
    is_variable,
    secret_fields,
    secret_text,
)
from headwater.store.models import Connection, EnvironmentVariable, River

SECTIONS = ("connections", "groups", "variables", "rivers")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Resolver = Callable[[str], str]


def env_name(*parts: str) -> str:
    """``HW_<PARTS>``: a variable name derived from object and field names."""
    joined = "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") for p in parts)
    return "HW_" + joined.upper()


def reference(name: str) -> str:
    return "${" + name + "}"


def _swap(holder: dict[str, Any], old: str, new: str, resolve: Resolver) -> None:
    if old in holder and holder[old] is not None:
        holder[new] = resolve(str(holder.pop(old)))


def _steps(nodes: list[dict[str, Any]], to_names: bool, conn: Resolver, river: Resolver) -> None:
    for node in nodes:
        if node.get("type") == "python":
            old, new = (
                ("connection_ids", "connections") if to_names else ("connections", "connection_ids")
            )
            if isinstance(node.get(old), list):
                node[new] = [conn(str(item)) for item in node.pop(old)]
        if node.get("type") in {"sql", "dbt"}:
            _swap(
                node,
                *(("connection_id", "connection") if to_names else ("connection", "connection_id")),
                conn,
            )
        if node.get("type") in {"river", "action"}:
            _swap(node, *(("river_id", "river") if to_names else ("river", "river_id")), river)
        _steps(node.get("steps") or [], to_names, conn, river)


def translate_refs(
    kind: str, properties: dict[str, Any], *, to_names: bool, conn: Resolver, river: Resolver
) -> dict[str, Any]:
    """A copy of ``properties`` with connection/river ids turned into names (or back)."""
    props = copy.deepcopy(properties)
    keys = ("connection_id", "connection") if to_names else ("connection", "connection_id")
    if kind == "src_to_trgt":
        for side in ("source", "target"):
            if isinstance(props.get(side), dict):
                _swap(props[side], *keys, conn)
    elif kind == "logic":
        _steps(props.get("steps") or [], to_names, conn, river)
    elif isinstance(props.get("response", {}).get("target"), dict):
        _swap(props["response"]["target"], *keys, conn)
    return props


def export_connection(connection: Connection) -> dict[str, Any]:
    props: dict[str, Any] = dict(connection.properties)
    for name in sorted(connection.secrets):
        props[name] = reference(env_name(connection.name, name))
    spec = connection_types.find_spec(connection.connection_type)
    order = [p.name for p in spec.properties] if spec else sorted(props)
    ordered = {k: props[k] for k in order if k in props}
    return {"name": connection.name, "type": connection.connection_type, "properties": ordered}


def export_variable(variable: EnvironmentVariable) -> dict[str, Any]:
    raw = {"raw": True} if variable.is_raw else {}
    if variable.is_private:
        return {
            "name": variable.name,
            "is_private": True,
            **raw,
            "value": reference(env_name("VAR", variable.name)),
        }
    return {"name": variable.name, **raw, "value": variable.value.get("v")}


def river_secret_env(river: str, key: str, loc: str) -> str:
    """``HW_RIVER_<RIVER>_<FIELD>`` for an auth secret, ``HW_RIVER_<RIVER>_HEADER_<NAME>`` for a
    sensitive request header, ``HW_RIVER_<RIVER>_VAR_<NAME>`` for a private river variable (a
    multi-value one holds a JSON list)."""
    if is_variable(loc):
        return env_name("RIVER", river, "VAR", loc.split(".")[1])
    if is_header(loc):
        return env_name("RIVER", river, header_env_part(loc), key)
    return env_name("RIVER", river, key)


def river_document(
    definition: dict[str, Any], status: str, group: str | None, conn: Resolver, river: Resolver
) -> dict[str, Any]:
    """The YAML form of a stored (sealed) definition: names for ids, refs for secrets."""
    shown = copy.deepcopy(definition)
    for holder, key, loc in secret_fields(shown):
        holder[key] = reference(river_secret_env(shown["name"], key, loc))
    document: dict[str, Any] = {"name": shown["name"], "type": shown["type"], "status": status}
    if group:
        document["group"] = group
    for key in ("metadata", "settings", "schedulers", "notifications", "variables"):
        document[key] = shown.get(key)
    document["properties"] = translate_refs(
        shown["type"], shown.get("properties", {}), to_names=True, conn=conn, river=river
    )
    return document


def export_environment(session: Session, scope: EnvScope) -> dict[str, list[dict[str, Any]]]:
    """The environment as one document (every section, objects sorted by name)."""
    conns = connections.list_connections(session, scope)
    groups = river_groups.list_groups(session, scope)
    found, _total = rivers.list_rivers(session, scope)
    conn_names = {c.id: c.name for c in conns}
    river_names = {r.id: r.name for r in found}
    group_names = {g.id: g.name for g in groups}
    return {
        "connections": [export_connection(c) for c in conns],
        "groups": [{"name": g.name} for g in groups],
        "variables": [export_variable(v) for v in variables.list_variables(session, scope)],
        "rivers": [
            river_document(
                r.definition,
                r.status,
                group_names.get(r.group_id or ""),
                lambda i: conn_names.get(i, i),
                lambda i: river_names.get(i, i),
            )
            for r in found
        ],
    }


def river_body(
    document: dict[str, Any], conn: Resolver, river: Resolver, group: Resolver
) -> dict[str, Any]:
    """A v1 river body from a YAML river document (names resolved to ids)."""
    body = {k: v for k, v in document.items() if k not in {"status", "group"}}
    if document.get("group"):
        body["group_id"] = group(str(document["group"]))
    kind = str(document.get("type", ""))
    canonical = rivers.canonical_type(kind)
    body["properties"] = translate_refs(
        canonical, document.get("properties") or {}, to_names=False, conn=conn, river=river
    )
    return {k: v for k, v in body.items() if v is not None}


def decrypted_river_secrets(box: SecretBox, river: River) -> dict[str, str]:
    """Clear secrets of a stored river by location, to compare with a document's values."""
    clear = rivers.definition_for_run(box, river)
    return {loc: secret_text(holder[key]) for holder, key, loc in secret_fields(clear)}
