"""Connections: validated per type, secrets encrypted at rest, never returned, really tested.

Properties are checked here against the type's catalogue entry (not by the connector) so a bad
body is a 422 naming the exact field. Secret properties are split off into ``secrets`` as
ciphertexts; responses show a mask and a replacement that sends the mask back keeps the stored
value. Nothing in this module logs or audits a property value.
"""

from __future__ import annotations

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
from headwater.security.crypto import MASK, SecretBox
from headwater.security.redact import Redactor
from headwater.security.ssrf import OutboundPolicy, reset_policy, set_policy
from headwater.services import connection_types
from headwater.services.audit import Actor, record
from headwater.services.envscope import EnvScope as Scope
from headwater.services.envscope import (
    check_name_free,
    commit_or_conflict,
    find_in_scope_by_name,
    get_in_scope,
    name_taken,
)
from headwater.store.models import Connection, River, RiverReference

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
    return value, None


def validate_properties(
    spec: ConnectorSpec,
    properties: dict[str, Any],
    *,
    box: SecretBox,
    stored_secrets: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``properties`` into plain values and encrypted secrets, or raise a field 422."""
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
        if secret:
            secrets[prop.name] = box.encrypt(str(coerced), purpose=PURPOSE)
        else:
            plain[prop.name] = coerced
    if errors:
        raise InvalidFields(errors)
    return plain, secrets


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
    return list(
        session.scalars(
            select(Connection)
            .where(
                Connection.account_id == scope.account_id,
                Connection.environment_id == scope.environment_id,
            )
            .order_by(Connection.name)
        )
    )


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
    session: Session, box: SecretBox, scope: Scope, actor: Actor, body: ConnectionIn, now: datetime
) -> Connection:
    spec = _spec_or_422(body.connection_type)
    plain, secrets = validate_properties(spec, body.properties, box=box)
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
) -> Connection:
    connection = get_connection(session, scope, connection_id)
    spec = _spec_or_422(body.connection_type)
    stored = connection.secrets if spec.name == connection.connection_type else None
    plain, secrets = validate_properties(spec, body.properties, box=box, stored_secrets=stored)
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
    return list(
        session.scalars(
            select(River)
            .where(
                River.id.in_(
                    select(RiverReference.river_id).where(
                        RiverReference.ref_type == "connection",
                        RiverReference.ref_id == connection_id,
                    )
                )
            )
            .order_by(River.name)
        )
    )


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
    repeats the ``Basic`` credential or the query string it was sent)."""
    message = Redactor(secrets).redact(message)
    for secret in secrets:  # shorter than the redactor's minimum too
        if secret:
            message = message.replace(secret, MASK)
    return message


def check_connection(
    session: Session,
    box: SecretBox,
    scope: Scope,
    connection_id: str,
    policy: OutboundPolicy | None = None,
) -> ConnectionTestResult:
    """Really connect through the connector; any failure becomes a clear, secret-free message.

    ``policy`` guards the outbound HTTP of REST connections (default: the process's own).
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
    record(
        session,
        account_id=scope.account_id,
        environment_id=scope.environment_id,
        actor=actor,
        action=action,
        entity_type="connection",
        entity_id=connection.id,
        details=details,
        occurred_at=now,
    )
