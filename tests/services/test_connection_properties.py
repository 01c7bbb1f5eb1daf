"""Connection properties are checked against the connector's catalogue entry: bad values are a
422 naming the property, never a crash."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidFields
from headwater.security.crypto import SecretBox
from headwater.services.connection_types import find_spec
from headwater.services.connections import validate_properties

BOX = SecretBox("test-secret-key-not-for-production")
BASE = {"database": "db", "username": "u"}


@pytest.mark.parametrize("port", ["--5", "²", "9" * 5000, "5x", True])
def test_an_integer_property_that_int_cannot_read_is_a_field_error(port: object) -> None:
    spec = find_spec("postgres")
    assert spec is not None
    with pytest.raises(InvalidFields) as raised:
        validate_properties(spec, {**BASE, "port": port}, box=BOX)
    assert raised.value.errors == [("properties.port", "must be an integer")]


@pytest.mark.parametrize(("port", "stored"), [(" 6543 ", 6543), ("-1", -1), (6543, 6543)])
def test_integer_properties_also_arrive_as_digit_strings(port: object, stored: int) -> None:
    spec = find_spec("postgres")
    assert spec is not None
    plain, _secrets = validate_properties(spec, {**BASE, "port": port}, box=BOX)
    assert plain["port"] == stored
