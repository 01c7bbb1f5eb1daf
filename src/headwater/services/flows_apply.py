"""Planning and applying flow documents: create or update by name, with a diff first.

Nothing is deleted: objects missing from the documents are left alone. A secret given as
``${VAR}`` whose variable is unset keeps the stored value (so an export applies back unchanged
without the secrets at hand); for a new object it is an error. Comparison happens in the
document form (names, defaults filled in by the same models the API uses), so an exported
environment applied again reports no change.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy.orm import Session

from headwater.errors import HeadwaterError
from headwater.schemas.connections import ConnectionIn
from headwater.schemas.environments import VariableIn
from headwater.schemas.rivers import RIVER_IN
from headwater.security.crypto import MASK, SecretBox
from headwater.services import connection_types, connections, flows, river_groups, rivers, variables
from headwater.services.audit import Actor
from headwater.services.cdc_slots import release_change_capture
from headwater.services.envscope import EnvScope
from headwater.services.river_secrets import (
    is_variable,
    secret_fields,
    secret_text,
    variable_from_text,
)
from headwater.store.models import River

SECRET_SENTINEL = "<secret>"


class FlowError(Exception):
    """A problem in the documents or while applying them; the message is for the user."""


@dataclass
class Change:
    kind: str  # group | variable | connection | river
    name: str
    action: str  # create | update | unchanged
    diff: list[str] = field(default_factory=list)
    run: Callable[[], None] | None = None


@dataclass
class Context:
    session: Session
    box: SecretBox
    scope: EnvScope
    actor: Actor
    now: datetime
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: Work done once every change applied (a disabled river's replication slot dropped).
    after_apply: list[Callable[[], None]] = field(default_factory=list)


def _dump(value: Any) -> list[str]:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).splitlines()


def _diff(current: Any, desired: Any) -> list[str]:
    return list(
        difflib.unified_diff(_dump(current), _dump(desired), "current", "desired", lineterm="")
    )


def _substitute(value: Any, environ: Mapping[str, str]) -> tuple[Any, list[str]]:
    """``value`` with ``${VAR}`` replaced from ``environ``; also the names that are unset."""
    if not isinstance(value, str):
        return value, []
    missing = [n for n in flows.ENV_REFERENCE.findall(value) if n not in environ]
    if missing:
        return value, missing
    return flows.ENV_REFERENCE.sub(lambda m: environ[m.group(1)], value), []


def _wrap(what: str, exc: Exception) -> FlowError:
    if isinstance(exc, ValidationError):
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return FlowError(f"{what}: {detail}")
    if isinstance(exc, HeadwaterError):
        return FlowError(f"{what}: {exc.message}")
    return FlowError(f"{what}: {exc}")


def _require(doc: Any, kind: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise FlowError(f"every entry of {kind} needs a name")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise FlowError(f"{kind[:-1]} {doc['name']!r}: unknown field(s) {', '.join(unknown)}")
    return doc


def plan_groups(ctx: Context, docs: list[Any]) -> list[Change]:
    changes = []
    for doc in docs:
        name = _require(doc, "groups", {"name"})["name"]
        if river_groups.find_by_name(ctx.session, ctx.scope, name) is not None:
            changes.append(Change("group", name, "unchanged"))
            continue

        def run(name: str = name) -> None:
            river_groups.create_group(ctx.session, ctx.scope, ctx.actor, name, ctx.now)

        changes.append(Change("group", name, "create", [f"+ name: {name}"], run))
    return changes


def plan_variables(ctx: Context, docs: list[Any]) -> list[Change]:
    existing = {v.name: v for v in variables.list_variables(ctx.session, ctx.scope)}
    current_values = variables.resolved_values(ctx.session, ctx.box, ctx.scope)
    changes = []
    for doc in docs:
        _require(doc, "variables", {"name", "value", "is_private", "raw"})
        name, private = doc["name"], bool(doc.get("is_private", False))
        raw = bool(doc.get("raw", False))
        value, missing = _substitute(doc.get("value"), ctx.environ)
        current = existing.get(name)
        if missing:
            if not (private and current is not None and current.is_private):
                raise FlowError(f"variable {name!r} needs environment variable {missing[0]}")
            value = MASK
        same_value = value == MASK or current_values.get(name) == value
        if (
            current is not None
            and current.is_private == private
            and current.is_raw == raw
            and same_value
        ):
            changes.append(Change("variable", name, "unchanged"))
            continue
        shown = flows.export_variable(current) if current is not None else {}
        wanted = {**doc, "value": doc.get("value") if private else value}
        item = VariableIn(name=name, value=value, is_private=private, raw=raw)

        def run(item: VariableIn = item) -> None:
            variables.set_variables(ctx.session, ctx.box, ctx.scope, ctx.actor, [item], ctx.now)

        action = "create" if current is None else "update"
        changes.append(Change("variable", name, action, _diff(shown, wanted), run))
    return changes


def plan_connections(ctx: Context, docs: list[Any]) -> list[Change]:
    changes = []
    for doc in docs:
        _require(doc, "connections", {"name", "type", "properties"})
        name = doc["name"]
        spec = connection_types.find_spec(str(doc.get("type")))
        if spec is None:
            raise FlowError(f"connection {name!r}: unknown type {doc.get('type')!r}")
        current = connections.find_by_name(ctx.session, ctx.scope, name)
        secret_names = connection_types.secret_names(spec)
        props: dict[str, Any] = {}
        for key, raw in (doc.get("properties") or {}).items():
            value, missing = _substitute(raw, ctx.environ)
            if missing:
                has_stored = current is not None and key in current.secrets
                if key not in secret_names or not has_stored:
                    raise FlowError(
                        f"connection {name!r}: property {key} needs environment variable "
                        f"{missing[0]}"
                    )
                value = MASK
            props[key] = value
        stored = (
            current.secrets
            if current is not None and current.connection_type == spec.name
            else None
        )
        try:
            plain, sealed = connections.validate_properties(
                spec,
                props,
                box=ctx.box,
                stored_secrets=stored,
                may_leave_roots=ctx.actor.is_admin,
                stored_plain=(
                    current.properties
                    if current is not None and current.connection_type == spec.name
                    else None
                ),
            )
        except HeadwaterError as exc:
            raise _wrap(f"connection {name!r}", exc) from None
        body = ConnectionIn(connection_name=name, connection_type=spec.name, properties=props)
        if current is not None:
            clear_now = connections.decrypted_properties(ctx.box, current)
            same_secrets = set(sealed) == set(current.secrets) and all(
                ctx.box.decrypt(v, purpose=connections.PURPOSE) == clear_now[k]
                for k, v in sealed.items()
            )
            if (
                current.connection_type == spec.name
                and plain == current.properties
                and same_secrets
            ):
                changes.append(Change("connection", name, "unchanged"))
                continue
        shown = flows.export_connection(current) if current is not None else {}
        wanted = {"name": name, "type": spec.name, "properties": dict(doc.get("properties") or {})}
        diff = _diff(shown, wanted)
        if current is not None and not same_secrets:
            diff.append("  (secret value(s) changed)")

        def run(
            body: ConnectionIn = body, current_id: str | None = current.id if current else None
        ) -> None:
            if current_id is None:
                connections.create_connection(
                    ctx.session, ctx.box, ctx.scope, ctx.actor, body, ctx.now
                )
            else:
                connections.replace_connection(
                    ctx.session, ctx.box, ctx.scope, ctx.actor, current_id, body, ctx.now
                )

        changes.append(
            Change("connection", name, "create" if current is None else "update", diff, run)
        )
    return changes


def _fake_id(kind: str, name: str) -> str:
    return hashlib.sha256(f"{kind}:{name}".encode()).hexdigest()[:24]


RIVER_FIELDS = {
    "name",
    "type",
    "status",
    "group",
    "metadata",
    "settings",
    "schedulers",
    "notifications",
    "variables",
    "properties",
}


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(document)
    for holder, key, _loc in secret_fields(shown):
        holder[key] = SECRET_SENTINEL
    return shown


def _normalized(doc: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The document as the API would store it, in document form (names, no status)."""
    body = flows.river_body(
        doc,
        conn=lambda n: _fake_id("connection", n),
        river=lambda n: _fake_id("river", n),
        group=lambda n: _fake_id("group", n),
    )
    canonical = {**body, "type": rivers.canonical_type(str(body.get("type")))}
    for holder, key, _loc in secret_fields(canonical):
        holder[key] = SECRET_SENTINEL
    model = RIVER_IN.validate_python(canonical)
    definition = model.model_dump(mode="json")
    definition["type"] = rivers.canonical_type(model.type)
    definition["metadata"].pop("river_status", None)
    document = flows.river_document(
        definition,
        "",
        names.get(definition.get("group_id") or ""),
        lambda i: names.get(i, i),
        lambda i: names.get(i, i),
    )
    document.pop("status")
    return _comparable(document)


def _current(ctx: Context, river: River) -> dict[str, Any]:
    found, _total = rivers.list_rivers(ctx.session, ctx.scope)
    conns = {c.id: c.name for c in connections.list_connections(ctx.session, ctx.scope)}
    groups = {g.id: g.name for g in river_groups.list_groups(ctx.session, ctx.scope)}
    names = {r.id: r.name for r in found}
    document = flows.river_document(
        river.definition,
        river.status,
        groups.get(river.group_id or ""),
        lambda i: conns.get(i, i),
        lambda i: names.get(i, i),
    )
    return _comparable(document)


def _references(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Names of the connections and rivers a river document refers to."""
    conns: set[str] = set()
    others: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("connection"), str):
                conns.add(value["connection"])
            if value.get("type") == "python" and isinstance(value.get("connections"), list):
                conns.update(str(name) for name in value["connections"])
            if value.get("type") in {"river", "action"} and isinstance(value.get("river"), str):
                others.add(value["river"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({k: v for k, v in (doc.get("properties") or {}).items() if k != "request"})
    return conns, others


def _topological(docs: dict[str, dict[str, Any]]) -> list[str]:
    """River names ordered so a referenced river comes before the rivers that run it."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise FlowError(f"river {name!r} runs itself through other rivers")
        visiting.add(name)
        for other in sorted(_references(docs[name])[1]):
            if other in docs:
                visit(other)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(docs):
        visit(name)
    return ordered


def _river_secrets(
    ctx: Context, doc: dict[str, Any], current: River | None
) -> tuple[dict[str, Any], bool]:
    """The document with secrets resolved from the environment, and whether an unset
    variable keeps the stored value (then secrets count as unchanged)."""
    resolved = copy.deepcopy(doc)
    resolved["type"] = rivers.canonical_type(str(doc.get("type")))
    stored = flows.decrypted_river_secrets(ctx.box, current) if current is not None else {}
    keep = False
    for holder, key, loc in secret_fields(resolved):
        value, missing = _substitute(holder[key], ctx.environ)
        if missing:
            if loc not in stored:
                raise FlowError(
                    f"river {doc['name']!r}: {loc} needs environment variable {missing[0]}"
                )
            value, keep = MASK, True
        holder[key] = variable_from_text(value) if is_variable(loc) else value
    return resolved, keep


def _secrets_differ(ctx: Context, resolved: dict[str, Any], current: River) -> bool:
    stored = flows.decrypted_river_secrets(ctx.box, current)
    wanted = {loc: secret_text(holder[key]) for holder, key, loc in secret_fields(resolved)}
    return any(value != MASK and stored.get(loc) != value for loc, value in wanted.items()) or (
        set(wanted) != set(stored)
    )


def _river_runner(
    ctx: Context, resolved: dict[str, Any], current_id: str | None, status: str | None
) -> Callable[[], None]:
    def run() -> None:
        def lookup(kind: str, find: Callable[..., Any]) -> Callable[[str], str]:
            def resolve(name: str) -> str:
                found = find(ctx.session, ctx.scope, name)
                if found is None:
                    raise FlowError(f"river {resolved['name']!r}: no {kind} named {name!r}")
                return str(found.id)

            return resolve

        body = flows.river_body(
            resolved,
            conn=lookup("connection", connections.find_by_name),
            river=lookup("river", rivers.find_by_name),
            group=lookup("group", river_groups.find_by_name),
        )
        if current_id is None and status:
            body["metadata"] = {**(body.get("metadata") or {}), "river_status": status}
        model = RIVER_IN.validate_python(body)
        if current_id is None:
            rivers.create_river(ctx.session, ctx.box, ctx.scope, ctx.actor, model, ctx.now)
            return
        river = rivers.replace_river(
            ctx.session, ctx.box, ctx.scope, ctx.actor, current_id, model, ctx.now
        )
        if status and status != river.status:
            rivers.set_status(ctx.session, ctx.scope, ctx.actor, river.id, status, ctx.now)
            if status != "active":
                # after every change of the apply succeeded (apply_changes), so a failed
                # apply does not leave a river active without its slot
                ctx.after_apply.append(partial(_release, ctx, river.id, dict(river.definition)))

    return run


def plan_rivers(ctx: Context, docs: list[Any], known: dict[str, set[str]]) -> list[Change]:
    by_name = {}
    for doc in docs:
        checked = _require(doc, "rivers", RIVER_FIELDS)
        by_name[checked["name"]] = checked
    names = {_fake_id(kind, n): n for kind, found in known.items() for n in found}
    changes = []
    for name in _topological(by_name):
        doc = by_name[name]
        conns, others = _references(doc)
        for kind, needed in (("connection", conns), ("river", others)):
            for missing in sorted(needed - known[kind]):
                raise FlowError(f"river {name!r}: no {kind} named {missing!r}")
        if doc.get("group") and doc["group"] not in known["group"]:
            raise FlowError(f"river {name!r}: no group named {doc['group']!r}")
        status = doc.get("status")
        if status not in (None, "active", "disabled"):
            raise FlowError(f"river {name!r}: status must be active or disabled")
        current = rivers.find_by_name(ctx.session, ctx.scope, name)
        resolved, keep = _river_secrets(ctx, doc, current)
        try:
            desired = _normalized(doc, names)
        except ValidationError as exc:
            raise _wrap(f"river {name!r}", exc) from None
        shown: dict[str, Any] = {}
        if current is not None:
            shown = _current(ctx, current)
            same = {k: v for k, v in shown.items() if k != "status"} == desired
            same_status = status is None or status == current.status
            secrets_same = keep or not _secrets_differ(ctx, resolved, current)
            if same and same_status and secrets_same:
                changes.append(Change("river", name, "unchanged"))
                continue
        shown_status = status or (current.status if current else "active")
        wanted = {"name": desired.pop("name"), "type": desired.pop("type"), "status": shown_status}
        wanted.update(desired)
        changes.append(
            Change(
                "river",
                name,
                "create" if current is None else "update",
                _diff(shown, wanted),
                _river_runner(ctx, resolved, current.id if current else None, status),
            )
        )
    return changes


def load_documents(path: Path) -> dict[str, list[Any]]:
    """Every ``*.yaml``/``*.yml`` under ``path`` (or the file), sections merged in file order."""
    files = [path] if path.is_file() else sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
    if not files:
        raise FlowError(f"no YAML files found at {path}")
    merged: dict[str, list[Any]] = {section: [] for section in flows.SECTIONS}
    for file in files:
        try:
            document = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise FlowError(f"{file}: {exc}") from None
        if not isinstance(document, dict):
            raise FlowError(f"{file}: a document must be a mapping of sections")
        unknown = sorted(set(document) - set(flows.SECTIONS))
        if unknown:
            raise FlowError(f"{file}: unknown section(s) {', '.join(unknown)}")
        for section in flows.SECTIONS:
            entries = document.get(section) or []
            if not isinstance(entries, list):
                raise FlowError(f"{file}: {section} must be a list")
            merged[section].extend(entries)
    for section, entries in merged.items():
        seen = [e.get("name") for e in entries if isinstance(e, dict)]
        duplicates = sorted({n for n in seen if seen.count(n) > 1 and n is not None})
        if duplicates:
            raise FlowError(f"{section}: {', '.join(duplicates)} defined more than once")
    return merged


def plan(ctx: Context, documents: dict[str, list[Any]]) -> list[Change]:
    """Every change, in the order it must be applied (groups, variables, connections, rivers)."""
    known = {
        "connection": {c.name for c in connections.list_connections(ctx.session, ctx.scope)},
        "group": {g.name for g in river_groups.list_groups(ctx.session, ctx.scope)},
        "river": {r.name for r in rivers.list_rivers(ctx.session, ctx.scope)[0]},
    }
    for kind, section in (("connection", "connections"), ("group", "groups"), ("river", "rivers")):
        known[kind] |= {
            d["name"] for d in documents[section] if isinstance(d, dict) and "name" in d
        }
    return [
        *plan_groups(ctx, documents["groups"]),
        *plan_variables(ctx, documents["variables"]),
        *plan_connections(ctx, documents["connections"]),
        *plan_rivers(ctx, documents["rivers"], known),
    ]


def _release(ctx: Context, river_id: str, definition: dict[str, Any]) -> None:
    """A river the documents disable: its slot goes as its ``source.cdc.on_disable`` says
    (the same service as the API and the console)."""
    release_change_capture(ctx.session, ctx.box, river_id, definition)


def apply_changes(changes: list[Change], ctx: Context | None = None) -> None:
    for change in changes:
        if change.run is None:
            continue
        try:
            change.run()
        except (HeadwaterError, ValidationError) as exc:
            raise _wrap(f"{change.kind} {change.name!r}", exc) from None
    if ctx is not None:
        for work in ctx.after_apply:
            work()
        ctx.after_apply.clear()
