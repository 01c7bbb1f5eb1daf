"""One logging configuration for every Headwater process."""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime

import httpx


class HttpxUrlWithoutQuery(logging.Filter):
    """httpx logs every request's URL at INFO; the query string may carry an API key or a
    private variable, so the line shows the URL without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) and arg.query for arg in record.args
        ):
            record.args = tuple(
                arg.copy_with(query=None, fragment=None) if isinstance(arg, httpx.URL) else arg
                for arg in record.args
            )
        return True


_HTTPX_FILTER = HttpxUrlWithoutQuery()


class JsonLines(logging.Formatter):
    """One JSON object per line, for log shippers (``HEADWATER_LOG_FORMAT=json``).

    Formats the same message the plain format shows (after the filters above, so redacted URLs
    stay redacted), with the time in UTC ISO 8601, level, logger, process and, when present,
    the exception's traceback and the ``run_id``/``river_id`` a record carries in ``extra``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        for key in ("run_id", "river_id", "run_group_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", log_format: str = "plain") -> None:
    """Log to stderr at ``level`` in ``plain`` text or ``json`` lines."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
                "json": {"()": JsonLines},
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "json" if log_format == "json" else "plain",
                },
            },
            "root": {"handlers": ["stderr"], "level": level.upper()},
        }
    )
    httpx_logger = logging.getLogger("httpx")
    if _HTTPX_FILTER not in httpx_logger.filters:
        httpx_logger.addFilter(_HTTPX_FILTER)
