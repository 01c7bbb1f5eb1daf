"""Who is calling: resolving a bearer token (or a console session) into a ``Principal``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from headwater.errors import Forbidden, NotAuthenticated, NotFound
from headwater.security.scopes import INSTANCE_SCOPES, role_scopes
from headwater.security.tokens import digests_match, hash_token, looks_like_token
from headwater.services.audit import Actor
from headwater.store.base import utcnow
from headwater.store.models import Account, ApiToken, Environment, User

LAST_USED_RESOLUTION = timedelta(minutes=1)

#: ``session.info`` key of rows a request read ahead, kept alive for the session's identity map.
PRELOADED = "headwater.preloaded"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Principal:
    """The caller of one request, with everything authorisation decisions need."""

    account_id: str
    scopes: frozenset[str]
    kind: str  # token | user
    token_id: str | None = None
    token_name: str | None = None
    user_id: str | None = None
    is_admin: bool = False
    is_instance_admin: bool = False  # may manage every account of the installation
    environment_ids: tuple[str, ...] | None = None  # None: every environment of the account
    extra: dict[str, str] = field(default_factory=dict)

    def may_use_environment(self, environment_id: str) -> bool:
        return self.environment_ids is None or environment_id in self.environment_ids


@functools.cache
def _token_query() -> Select[ApiToken, Account, User, Environment]:
    """The token, its account, its creator and the environment the request names, in one
    round trip: every API request runs this, and under load each round trip is a wait for a
    pooled connection and for the database. The environment (of the token's account only) lands
    in the session's identity map, where ``check_environment`` then finds it without a query.
    Built once: a statement's construction and cache key cost more CPU than its execution."""
    return (
        select(ApiToken, Account, User, Environment)
        .join(Account, Account.id == ApiToken.account_id)
        .outerjoin(User, User.id == ApiToken.created_by)
        .outerjoin(
            Environment,
            (Environment.id == bindparam("environment_id"))
            & (Environment.account_id == ApiToken.account_id),
        )
        .where(ApiToken.token_hash == bindparam("token_hash"))
    )


def authenticate_token(
    session: Session, secret: str, *, now: Clock = utcnow, environment_id: str | None = None
) -> Principal:
    """Resolve a bearer secret; any failure is the same 401, so nothing leaks about tokens.

    ``environment_id``, the one in the request's path, is read in the same query (see
    ``_token_query``); ``check_environment`` still decides about it.
    """
    if not looks_like_token(secret):
        raise NotAuthenticated()
    found = session.execute(
        _token_query(), {"token_hash": hash_token(secret), "environment_id": environment_id}
    ).first()
    if found is None:
        raise NotAuthenticated()
    token, account, creator, environment = found
    if environment is not None:
        # The identity map holds objects weakly: keep the environment for the session's life.
        session.info.setdefault(PRELOADED, []).append(environment)
    if not digests_match(token.token_hash, secret) or token.deleted_at is not None:
        raise NotAuthenticated()
    current = now()
    if token.expires_at is not None and token.expires_at <= current:
        raise NotAuthenticated()
    check_account_enabled(account)
    creator_is_admin = bool(
        creator is not None
        and creator.is_active
        and creator.role == "admin"
        and creator.account_id == token.account_id
    )
    creator_is_instance_admin = bool(
        creator is not None and creator_is_admin and creator.is_instance_admin
    )
    scopes = frozenset(str(s) for s in token.scopes)
    if not creator_is_instance_admin:
        scopes -= INSTANCE_SCOPES  # the scope is inert once its creator lost instance admin
    if token.last_used_at is None or current - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = current
        session.commit()
    return Principal(
        account_id=token.account_id,
        scopes=scopes,
        kind="token",
        token_id=token.id,
        token_name=token.name,
        user_id=token.created_by,
        is_admin=creator_is_admin,
        is_instance_admin=creator_is_instance_admin,
        environment_ids=None
        if token.environment_ids is None
        else tuple(str(e) for e in token.environment_ids),
    )


def principal_for_user(user: User) -> Principal:
    """A console user (or the CLI acting as one): the role's scopes, admin power from the role.

    Admins hold every account scope, members every scope but managing tokens, users and the
    plan; ``instance:admin`` comes only with ``is_instance_admin``. Admin-only operations also
    check ``is_admin`` themselves.
    """
    is_admin = user.is_active and user.role == "admin"
    is_instance_admin = is_admin and user.is_instance_admin
    return Principal(
        account_id=user.account_id,
        scopes=role_scopes("admin" if is_admin else "member", instance_admin=is_instance_admin),
        kind="user",
        user_id=user.id,
        is_admin=is_admin,
        is_instance_admin=is_instance_admin,
    )


def check_account_enabled(account: Account) -> None:
    """A disabled account's tokens and sessions stop working until an instance admin enables it."""
    if account.disabled_at is not None:
        raise Forbidden(
            f"Account {account.id} is disabled; ask the administrator of this Headwater "
            "installation to enable it again"
        )


def actor_for(principal: Principal) -> Actor:
    """The audit actor of a request: the token (and the user behind it) or the user."""
    code = may_run_code(principal)
    if principal.kind == "token":
        return Actor(
            kind="token",
            id=principal.token_id,
            user_id=principal.user_id,
            is_admin=principal.is_admin,
            may_run_code=code,
        )
    return Actor(
        kind="user",
        id=principal.user_id,
        user_id=principal.user_id,
        is_admin=principal.is_admin,
        may_run_code=code,
    )


def may_run_code(principal: Principal) -> bool:
    """``river:code``: the scope itself, and an admin behind it (a token whose creator is no
    longer an admin loses it, and console members never hold it)."""
    return "river:code" in principal.scopes and principal.is_admin


def check_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"This token lacks the scope '{scope}' that this operation requires")


def check_account(principal: Principal, account_id: str) -> None:
    """Another account's resources answer 404: their existence is not revealed."""
    if principal.account_id != account_id:
        raise NotFound(f"Account {account_id} was not found")


def check_environment(session: Session, principal: Principal, environment_id: str) -> Environment:
    environment = session.get(Environment, environment_id)
    if environment is None or environment.account_id != principal.account_id:
        raise NotFound(f"Environment {environment_id} was not found")
    if not principal.may_use_environment(environment_id):
        raise Forbidden(f"This token is not granted access to environment {environment_id}")
    return environment


def default_environment_id(session: Session, principal: Principal) -> str:
    """The account's default environment if granted, else the first granted one."""
    environments = session.scalars(
        select(Environment)
        .where(Environment.account_id == principal.account_id)
        .order_by(Environment.is_default.desc(), Environment.created_at)
    ).all()
    for environment in environments:
        if principal.may_use_environment(environment.id):
            return environment.id
    raise Forbidden("This token is not granted any environment")
