"""The scope catalogue: every scope a token can carry, with the one line the console shows."""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "me:list": "Read who the token belongs to: account, default environment, token name, scopes.",
    "account:list": "Read the account: its plan, plan history and any pending downgrade.",
    "account:write": "Change account settings such as the plan (admins only).",
    "environment:list": "List the account's environments.",
    "environment:edit": "Create and rename environments.",
    "river:list": "List data flows (rivers), their versions, groups and definitions.",
    "river:write": "Create and update data flows, groups and schedules; restore versions.",
    "river:edit": "Activate and disable data flows (gates their schedules).",
    "river:execute": "Run data flows, cancel runs, read run status and logs.",
    "river:delete": "Delete data flows and groups.",
    "river:code": "Save logic rivers with dbt or Python steps: code that runs on the worker "
    "(admins only; never granted unless chosen).",
    "connection:list": "List connections and connection types (secrets are never shown).",
    "connection:edit": "Create, update and test connections.",
    "connection:delete": "Delete connections that no data flow uses.",
    "variables:list": "Read environment and data-flow variables (private values stay masked).",
    "variables:edit": "Set and delete environment and data-flow variables.",
    "activities:list": "Read the Activities API: run statistics, run groups, runs and units.",
    "operations:list": "Read operations and run records of the environment.",
    "audit:list": "Read the audit trail of the account.",
    "team:list": "List the account's teams.",
    "user:list": "List the account's users and their roles.",
    "user:edit": "Create users and change their roles (admins only).",
    "token:list": "List API tokens and view their scopes (admins only).",
    "token:edit": "Create and delete API tokens (admins only).",
    "webhook:list": "List webhooks and their delivery attempts.",
    "webhook:edit": "Create, update, test and delete webhooks.",
    "instance:admin": "Create, list, rename, re-plan and disable accounts (instance admins only).",
}

ALL_SCOPES = frozenset(SCOPES)
#: Scopes about the whole installation, held only by instance admins (never by a role alone).
INSTANCE_SCOPES = frozenset({"instance:admin"})
#: Everything an account admin holds: every scope but the instance's.
ACCOUNT_SCOPES = ALL_SCOPES - INSTANCE_SCOPES
#: Managing tokens, users and the plan: an account admin's, never a member's.
ADMIN_ONLY_SCOPES = frozenset(
    {"token:list", "token:edit", "user:edit", "account:write", "river:code"}
)
MEMBER_SCOPES = ACCOUNT_SCOPES - ADMIN_ONLY_SCOPES


def role_scopes(role: str, *, instance_admin: bool = False) -> frozenset[str]:
    """The scopes a user of ``role`` holds (console and CLI): what granting that role grants."""
    held = ACCOUNT_SCOPES if role == "admin" else MEMBER_SCOPES
    return (held | INSTANCE_SCOPES) if instance_admin else held


def unknown_scopes(scopes: list[str]) -> list[str]:
    """The names in ``scopes`` that are not in the catalogue, in the order given."""
    return [scope for scope in dict.fromkeys(scopes) if scope not in SCOPES]


def scopes_markdown() -> str:
    """The scope reference table of the docs, generated so it cannot drift from the catalogue."""
    lines = ["| scope | allows |", "|---|---|"]
    for name, description in SCOPES.items():
        escaped = description.replace("|", "\\|")
        lines.append(f"| `{name}` | {escaped} |")
    return "\n".join(lines) + "\n"
