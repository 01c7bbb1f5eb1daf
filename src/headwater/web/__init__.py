"""The web console: server-rendered pages under ``/console``, served by the API process."""

from headwater.web.app import include_console

__all__ = ["include_console"]
