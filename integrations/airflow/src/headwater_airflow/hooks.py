"""``HeadwaterHook``: a ``headwater`` connection (base URL, API token as password) as a client.

The connection's host is the base URL (``https://headwater.example.com``; a bare host name gets
``http://`` and the port); its password is the API token. ``account_id`` and ``environment_id``
extras are optional: without them the client asks ``/api/me`` (scope ``me:list``) once.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from headwater_client import AsyncClient, Client

from headwater_airflow.provider import get_provider_info


def base_url(host: str | None, port: int | None) -> str:
    if not host:
        raise ValueError("the headwater connection has no host (the Headwater base URL)")
    url = host if "://" in host else f"http://{host}"
    if port and url.count(":") < 2:
        url = f"{url}:{port}"
    return url.rstrip("/")


class HeadwaterHook(BaseHook):
    """Clients for one ``headwater`` connection."""

    conn_name_attr = "headwater_conn_id"
    default_conn_name = "headwater_default"
    conn_type = "headwater"
    hook_name = "Headwater"

    def __init__(self, headwater_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.headwater_conn_id = headwater_conn_id

    @staticmethod
    def _options(conn: Any) -> dict[str, Any]:
        if not conn.password:
            raise ValueError(f"connection {conn.conn_id} has no password (the Headwater API token)")
        extra = conn.extra_dejson or {}
        return {
            "base_url": base_url(conn.host, conn.port),
            "token": conn.password,
            "account_id": extra.get("account_id") or None,
            "environment_id": extra.get("environment_id") or None,
            "timeout": float(extra.get("timeout") or 30),
        }

    def get_client(self) -> Client:
        """A blocking client; close it (``with hook.get_client() as client:``)."""
        return Client(**self._options(self.get_connection(self.headwater_conn_id)))

    async def aget_client(self) -> AsyncClient:
        """An asyncio client for triggers (reads the connection without blocking)."""
        conn = await self.aget_connection(self.headwater_conn_id)
        return AsyncClient(**self._options(conn))

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: who the token is."""
        try:
            with self.get_client() as client:
                me = client.me()
        except Exception as exc:  # the UI shows the message
            return False, str(exc)
        return True, f"Connected to account {me.account_name} as token {me.token_name}"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
        return {
            "hidden_fields": behaviour["hidden-fields"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The extra fields for the FAB connection form (Airflow's React UI reads the
        provider's ``conn-fields`` instead); empty when the FAB provider is not installed."""
        try:
            from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
            from wtforms import IntegerField, StringField
        except ImportError:
            return {}
        return {
            "account_id": StringField("Account id", widget=BS3TextFieldWidget()),
            "environment_id": StringField("Environment id", widget=BS3TextFieldWidget()),
            "timeout": IntegerField("Request timeout (seconds)", widget=BS3TextFieldWidget()),
        }
