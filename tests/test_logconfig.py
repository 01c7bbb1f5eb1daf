"""``HEADWATER_LOG_FORMAT=json``: one JSON object per line, secrets in URLs still dropped."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging
    import httpx
    from headwater.logconfig import configure_logging

    configure_logging("INFO", "json")
    logging.getLogger("httpx").info(
        'HTTP Request: %s %s "%s"', "GET",
        httpx.URL("https://api.example.com/v1/items?api_key=sekret-value-123"), "200 OK",
    )
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("headwater.runner").exception(
            "table failed", extra={"run_id": "r123", "river_id": "v456"}
        )
    """
)


def test_json_lines_keep_the_redaction_and_carry_exceptions() -> None:
    # a fresh interpreter: dictConfig replaces the root handlers of the process it runs in
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert len(lines) == 2, done.stderr
    request, failure = lines
    assert request["level"] == "INFO" and request["logger"] == "httpx"
    assert "api.example.com/v1/items" in request["message"]
    assert "sekret" not in done.stderr and "api_key" not in done.stderr
    assert failure["level"] == "ERROR" and failure["message"] == "table failed"
    assert failure["run_id"] == "r123" and failure["river_id"] == "v456"
    assert "ValueError: boom" in failure["exception"]
    assert failure["time"].endswith("+00:00")


def test_plain_stays_the_default() -> None:
    from headwater.settings import Settings

    assert Settings().log_format == "plain"
    assert logging.getLevelName("INFO") == logging.INFO
