"""PostgreSQL driver errors become classified messages that read the same on both read paths."""

from __future__ import annotations

import psycopg

from headwater.connectors.errors import ConnectionFailed
from headwater.connectors.postgres.conn import translate, translate_adbc

LOST = (
    "server closed the connection unexpectedly\n\tThis probably means the server terminated"
    " abnormally\n\tbefore or while processing the request."
)


class AdbcError(Exception):
    """What ADBC raises: a message and a SQLSTATE attribute (empty for a lost connection)."""

    def __init__(self, message: str, sqlstate: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_a_lost_connection_reads_the_same_through_copy_and_arrow() -> None:
    what = "PostgreSQL db1/sales public.orders"
    native = translate(psycopg.OperationalError(f"consuming input failed: {LOST}"), what)
    arrow = translate_adbc(AdbcError(f"[libpq] PQgetCopyData() failed: {LOST}"), what)
    for error in (native, arrow):
        assert isinstance(error, ConnectionFailed) and error.transient
        assert str(error).startswith(f"{what}: cannot connect or connection lost ("), error
        assert "server closed the connection unexpectedly" in str(error)


def test_an_adbc_connection_sqlstate_is_a_lost_connection() -> None:
    error = translate_adbc(AdbcError("could not send data to server", "08006"), "PostgreSQL h/d")
    assert isinstance(error, ConnectionFailed)
    assert str(error) == (
        "PostgreSQL h/d: cannot connect or connection lost (could not send data to server)"
    )
