"""Who may grant what: a caller hands out only the scopes and environments it holds itself.

Admin power (``Principal.is_admin``) says *whether* a caller may manage tokens and users; these
rules bound *what* it may hand out. Without them a token holding only ``token:edit`` could mint
a token with ``account:write``, a token limited to one environment could mint one for every
environment, and a ``user:edit`` token could create an admin user (every scope, every
environment) and sign in as it. The same rules apply to console sessions and the CLI, which
act through the same principals.
"""

from __future__ import annotations

from collections.abc import Iterable

from headwater.errors import Forbidden
from headwater.security.scopes import role_scopes
from headwater.services.auth import Principal


def _caller(principal: Principal) -> str:
    return "This token" if principal.kind == "token" else "Your user"


def require_scopes_held(principal: Principal, scopes: Iterable[str]) -> None:
    """403 naming every requested scope the caller does not hold."""
    lacking = sorted(set(scopes) - principal.scopes)
    if lacking:
        raise Forbidden(
            f"{_caller(principal)} can only grant scopes it holds itself; it does not hold: "
            f"{', '.join(lacking)}"
        )


def require_environments_held(principal: Principal, environment_ids: list[str] | None) -> None:
    """``None`` asks for every environment (also future ones): only an unlimited caller has it."""
    if principal.environment_ids is None:
        return
    granted = ", ".join(principal.environment_ids) or "none"
    if environment_ids is None:
        raise Forbidden(
            f"{_caller(principal)} is limited to environments {granted}; it cannot grant every "
            "environment. List environment_ids from its own."
        )
    outside = [e for e in dict.fromkeys(environment_ids) if e not in principal.environment_ids]
    if outside:
        raise Forbidden(
            f"{_caller(principal)} can only grant environments it is granted itself "
            f"({granted}); not: {', '.join(outside)}"
        )


def require_unlimited(principal: Principal, action: str) -> None:
    """Account-wide changes (users, plan, environments) need a caller of every environment."""
    if principal.environment_ids is not None:
        raise Forbidden(
            f"{_caller(principal)} is limited to some environments; {action} affects the whole "
            "account and needs a token granted every environment"
        )


def require_role_held(principal: Principal, role: str, *, instance_admin: bool = False) -> None:
    """Making someone ``role`` grants that role's scopes in every environment: hold them all.

    Also guards changing or deleting a user: nobody manages a user more powerful than itself.
    """
    require_unlimited(principal, "managing users")
    lacking = sorted(role_scopes(role, instance_admin=instance_admin) - principal.scopes)
    if lacking:
        who = "an instance admin" if instance_admin else f"a user with role {role!r}"
        raise Forbidden(
            f"{_caller(principal)} cannot manage {who}: that role holds scopes it does not "
            f"hold itself ({', '.join(lacking)})"
        )


def within_reach(principal: Principal, environment_ids: list[str] | None) -> bool:
    """Whether something granted ``environment_ids`` (None: all) stays inside the caller's."""
    if principal.environment_ids is None:
        return True
    return environment_ids is not None and set(environment_ids) <= set(principal.environment_ids)
