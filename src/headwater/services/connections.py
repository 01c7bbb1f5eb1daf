"""Connections: validated per type, secrets encrypted at rest, never returned, really tested.

Properties are checked here against the type's catalogue entry (not by the connector) so a bad
body is a 422 naming the exact field. Secret properties are split off into ``secrets`` as
ciphertexts; responses show a mask and a replacement that sends the mask back keeps the stored
value. Nothing in this module logs or audits a property value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.connectors.base import ConnectorSpec, PropertySpec
from headwater.connectors.errors import ConnectorError
from headwater.errors import Conflict, InvalidFields, NotFound
from headwater.schemas.connections import (
    ConnectionIn,
    ConnectionOut,
    ConnectionPropertyOut,
    ConnectionTestResult,
    ConnectionTypeOut,
)
from headwater.schemas.rivers_actions import HEADER_NAME
from headwater.security import local_paths
from headwater.security.crypto import MASK, SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.redact import Redactor
from headwater.security.ssrf import OutboundPolicy, reset_policy, set_policy
from headwater.services import connection_types
from headwater.services.audit import Actor, record_in_scope
from headwater.services.bridge_config import check_connector_config
from headwater.services.envscope import EnvScope as Scope
from headwater.services.envscope import (
    check_name_free,
    commit_or_conflict,
    find_in_scope_by_name,
    get_in_scope,
    list_in_scope,
    name_taken,
)
from headwater.services.rivers import rivers_referring_to
from headwater.store.models import Connection, River

PURPOSE = "connection"


def type_out(spec: ConnectorSpec) -> ConnectionTypeOut:
    return ConnectionTypeOut(
        connection_type=spec.name,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        roles=list(spec.roles),
        is_source="source" in spec.roles,
        is_target="target" in spec.roles,
        properties=[
            ConnectionPropertyOut(
                name=p.name,
                type=p.type,
                required=p.required,
                secret=connection_types.is_secret(p),
                default=None if connection_types.is_secret(p) else p.default,
                description=p.description,
                choices=list(p.choices),
            )
            for p in spec.properties
        ],
    )


def catalogue(role: str | None = None) -> list[ConnectionTypeOut]:
    """Every connector Headwater ships (and plugins), optionally only those with ``role``."""
    return [type_out(s) for s in connection_types.all_specs() if role is None or role in s.roles]


def _coerce(prop: PropertySpec, value: Any) -> tuple[Any, str | None]:
    """The value in the property's type, or an error message naming what was expected."""
    if prop.type == "integer":
        if isinstance(value, bool):
            return None, "must be an integer"
        if isinstance(value, int):
            return value, None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            try:  # "--5", "²" and 5000 digits pass isdigit() but not int()
                return int(value.strip()), None
            except ValueError:
                pass
        return None, "must be an integer"
    if prop.type == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true", None
        return None, "must be a boolean"
    if not isinstance(value, str):
        return None, "must be a string"
    if prop.choices:
        lowered = value.strip().lower()
        if lowered not in prop.choices:
            return None, f"must be one of {', '.join(prop.choices)}"
        return lowered, None
    if prop.json_object:
        return value, _json_object_problem(value)
    return value, None


def _path_problem(
    prop: PropertySpec,
    value: str,
    paths: LocalPathPolicy,
    may_leave_roots: bool,
    stored_plain: Mapping[str, Any] | None,
) -> str | None:
    """Why a ``path`` property may not hold ``value`` for this caller (None: it may).

    A value the connection already holds is kept when a member edits another property: an
    account admin saved it. The data dir is refused even then.
    """
    unchanged = stored_plain is not None and stored_plain.get(prop.name) == value
    problem = paths.check_save(value, may_leave_roots=may_leave_roots or unchanged)
    return None if problem is None else f"the path {value!r} {problem}"


def _json_object_problem(text: str) -> str | None:
    """Why ``text`` is not a JSON object of header names to text values, without repeating
    any of it (the property is a secret)."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return 'must be a JSON object such as {"X-Name": "value"} (it is not valid JSON)'
    if not isinstance(parsed, dict):
        return 'must be a JSON object such as {"X-Name": "value"}'
    for name, value in parsed.items():
        if not HEADER_NAME.match(name):
            return "holds a header name with characters a header name cannot have"
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return "holds a header value that is not text or a number"
        if any(c in str(value) for c in "\r\n\x00"):
            return "holds a header value with a line break or NUL"
    return None


def validate_properties(
    spec: ConnectorSpec,
    properties: dict[str, Any],
    *,
    box: SecretBox,
    stored_secrets: dict[str, Any] | None = None,
    paths: LocalPathPolicy | None = None,
    may_leave_roots: bool = False,
    stored_plain: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``properties`` into plain values and encrypted secrets, or raise a field 422.

    Local paths (properties of type ``path``) must pass ``paths`` (default: the process's
    ``HEADWATER_LOCAL_ROOTS``): never the data dir; outside the allowed folders only when
    ``may_leave_roots`` (the caller is an account admin) or the value is the stored one.
    """
    policy = paths if paths is not None else local_paths.current_policy()
    known = {p.name: p for p in spec.properties}
    errors: list[tuple[str, str]] = []
    for name in sorted(set(properties) - set(known)):
        errors.append(
            (
                f"properties.{name}",
                f"unknown property of a {spec.name} connection (known: {', '.join(known)})",
            )
        )
    plain: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for prop in spec.properties:
        value = properties.get(prop.name)
        secret = connection_types.is_secret(prop)
        if secret and value == MASK:
            if stored_secrets and prop.name in stored_secrets:
                secrets[prop.name] = stored_secrets[prop.name]
            else:
                errors.append(
                    (f"properties.{prop.name}", "the mask was sent but no value is stored")
                )
            continue
        if value is None or value == "":
            if prop.required and prop.default is None:
                errors.append((f"properties.{prop.name}", "field required"))
            continue
        coerced, problem = _coerce(prop, value)
        if problem is not None:
            errors.append((f"properties.{prop.name}", problem))
            continue
        if connection_types.is_local_path(prop, coerced):
            problem = _path_problem(prop, str(coerced), policy, may_leave_roots, stored_plain)
            if problem is not None:
                errors.append((f"properties.{prop.name}", problem))
                continue
        if secret:
            secrets[prop.name] = box.encrypt(str(coerced), purpose=PURPOSE)
        else:
            plain[prop.name] = coerced
    if errors:
        raise InvalidFields(errors)
    return plain, secrets


def local_path_findings(session: Session, paths: LocalPathPolicy) -> list[str]:
    """One line per stored connection whose local path the rule would not let a member save:
    in the data dir (its runs fail) or outside the allowed folders (an admin saved it, or it
    predates the rule). ``headwater up`` prints them so an operator can review them."""
    found: list[str] = []
    for connection in session.scalars(select(Connection).order_by(Connection.name)):
        spec = connection_types.find_spec(connection.connection_type)
        for prop in spec.properties if spec is not None else ():
            value = connection.properties.get(prop.name)
            if not isinstance(value, str) or not connection_types.is_local_path(prop, value):
                continue
            verdict = paths.verdict(value) if "\x00" not in value else "internal"
            if verdict == "allowed":
                continue
            why = (
                "is in the data dir: its runs fail until it is changed"
                if verdict == "internal"
                else "is outside HEADWATER_LOCAL_ROOTS (saved by an admin or before the rule)"
            )
            found.append(
                f"connection {connection.name!r} ({connection.id}, account "
                f"{connection.account_id}): {prop.name} {value!r} {why}"
            )
    return found


def _spec_or_422(connection_type: str) -> ConnectorSpec:
    spec = connection_types.find_spec(connection_type)
    if spec is None:
        known = ", ".join(s.name for s in connection_types.all_specs())
        raise InvalidFields([("connection_type", f"unknown type {connection_type!r} ({known})")])
    return spec


def connection_out(connection: Connection) -> ConnectionOut:
    shown = dict(connection.properties)
    for name in connection.secrets:
        shown[name] = MASK
    return ConnectionOut(
        connection_id=connection.id,
        cross_id=connection.id,
        connection_name=connection.name,
        connection_type=connection.connection_type,
        properties=shown,
        account_id=connection.account_id,
        environment_id=connection.environment_id,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def list_connections(session: Session, scope: Scope) -> list[Connection]:
    return list_in_scope(session, Connection, scope)


def get_connection(session: Session, scope: Scope, connection_id: str) -> Connection:
    """The connection, or 404 when it is missing or belongs to another account/environment."""
    return get_in_scope(session, Connection, scope, connection_id, "Connection")


def find_by_name(session: Session, scope: Scope, name: str) -> Connection | None:
    return find_in_scope_by_name(session, Connection, scope, name)


def _check_name_free(session: Session, scope: Scope, name: str, own_id: str | None) -> None:
    check_name_free(session, Connection, scope, name, own_id, "A connection")


def _commit(session: Session, name: str) -> None:
    commit_or_conflict(session, name_taken("A connection", name))


def create_connection(
    session: Session,
    box: SecretBox,
    scope: Scope,
    actor: Actor,
    body: ConnectionIn,
    now: datetime,
    paths: LocalPathPolicy | None = None,
) -> Connection:
    spec = _spec_or_422(body.connection_type)
    plain, secrets = validate_properties(
        spec, body.properties, box=box, paths=paths, may_leave_roots=actor.is_admin
    )
    check_connector_config(spec.name, body.properties, plain, secrets, box, PURPOSE)
    _check_name_free(session, scope, body.connection_name, None)
    connection = Connection(
        account_id=scope.account_id,
        environment_id=scope.environment_id,
        name=body.connection_name,
        connection_type=spec.name,
        properties=plain,
        secrets=secrets,
        created_by=actor.user_id or actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(connection)
    session.flush()
    _audit(session, scope, actor, "connection.created", connection, now, sorted(body.properties))
    _commit(session, body.connection_name)
    return connection


def replace_connection(
    session: Session,
    box: SecretBox,
    scope: Scope,
    actor: Actor,
    connection_id: str,
    body: ConnectionIn,
    now: datetime,
    paths: LocalPathPolicy | None = None,
) -> Connection:
    connection = get_connection(session, scope, connection_id)
    spec = _spec_or_422(body.connection_type)
    same_type = spec.name == connection.connection_type
    plain, secrets = validate_properties(
        spec,
        body.properties,
        box=box,
        stored_secrets=connection.secrets if same_type else None,
        paths=paths,
        may_leave_roots=actor.is_admin,
        stored_plain=connection.properties if same_type else None,
    )
    check_connector_config(spec.name, body.properties, plain, secrets, box, PURPOSE)
    _check_name_free(session, scope, body.connection_name, connection.id)
    changed = sorted(
        name
        for name in set(plain) | set(connection.properties) | set(secrets) | set(connection.secrets)
        if plain.get(name) != connection.properties.get(name)
        or secrets.get(name) != connection.secrets.get(name)
    )
    connection.name = body.connection_name
    connection.connection_type = spec.name
    connection.properties = plain
    connection.secrets = secrets
    connection.updated_at = now
    _audit(session, scope, actor, "connection.updated", connection, now, changed)
    _commit(session, body.connection_name)
    return connection


def rivers_using(session: Session, connection_id: str) -> list[River]:
    return rivers_referring_to(session, "connection", connection_id)


def delete_connection(
    session: Session, scope: Scope, actor: Actor, connection_id: str, now: datetime
) -> None:
    connection = get_connection(session, scope, connection_id)
    users = rivers_using(session, connection.id)
    if users:
        names = ", ".join(f"{r.name!r} ({r.id})" for r in users)
        raise Conflict(f"Connection {connection.name!r} is used by rivers: {names}")
    _audit(session, scope, actor, "connection.deleted", connection, now, [])
    session.delete(connection)
    session.commit()


def decrypted_properties(box: SecretBox, connection: Connection) -> dict[str, Any]:
    """Every property, secrets in clear: for the engine and connection tests only."""
    props = dict(connection.properties)
    for name, stored in connection.secrets.items():
        props[name] = box.decrypt(stored, purpose=PURPOSE)
    return props


def connection_config(
    session: Session, box: SecretBox, connection_id: str
) -> tuple[str, dict[str, Any]]:
    """``(connection_type, properties)`` with secrets decrypted, for ``open_source/target``."""
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise NotFound(f"Connection {connection_id} was not found")
    return connection.connection_type, decrypted_properties(box, connection)


def _scrub(message: str, secrets: list[str]) -> str:
    """The message without the secrets, also percent-encoded or inside base64 (an API that
    repeats the ``Basic`` credential or the query string it was sent).

    Secrets shorter than ``redact.MIN_SECRET_LENGTH`` are not searched for: masking a
    one-character password as a substring masked that character everywhere in the message."""
    return Redactor(secrets).redact(message)


def check_connection(
    session: Session,
    box: SecretBox,
    scope: Scope,
    connection_id: str,
    policy: OutboundPolicy | None = None,
    paths: LocalPathPolicy | None = None,
) -> ConnectionTestResult:
    """Really connect through the connector; any failure becomes a clear, secret-free message.

    ``policy`` is the outbound policy (default: the process's own). In production mode a
    blocked host fails when the connection is opened, before anything is dialled, so the
    answer is the same whether a private port is open or closed. ``paths`` guards the local
    paths (default: the process's own).
    """
    connection = get_connection(session, scope, connection_id)
    spec = connection_types.find_spec(connection.connection_type)
    if spec is None:
        return ConnectionTestResult(
            ok=False, message=f"The connection type {connection.connection_type!r} is not installed"
        )
    props = decrypted_properties(box, connection)
    secret_values = [str(props[n]) for n in connection.secrets]
    token = set_policy(policy) if policy is not None else None
    paths_token = local_paths.set_policy(paths) if paths is not None else None
    try:
        with connection_types.open_for_test(spec, props) as opened:
            opened.test()
    except ConnectorError as exc:
        return ConnectionTestResult(ok=False, message=_scrub(str(exc), secret_values))
    except Exception as exc:  # a driver error the connector did not classify
        detail = _scrub(f"{type(exc).__name__}: {exc}", secret_values)
        return ConnectionTestResult(ok=False, message=detail)
    finally:
        if token is not None:
            reset_policy(token)
        if paths_token is not None:
            local_paths.reset_policy(paths_token)
    return ConnectionTestResult(ok=True)


def _audit(
    session: Session,
    scope: Scope,
    actor: Actor,
    action: str,
    connection: Connection,
    now: datetime,
    properties: list[str],
) -> None:
    details: dict[str, Any] = {
        "name": connection.name,
        "connection_type": connection.connection_type,
    }
    if properties:
        details["properties"] = properties  # names only, never values
    record_in_scope(
        session,
        scope,
        actor,
        action,
        "connection",
        connection.id,
        details,
        now,
    )
