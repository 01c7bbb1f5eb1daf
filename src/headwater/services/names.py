"""When two names are the same name: compared NFKC-normalised and case-folded.

``Orders``, ``orders`` and ``orders`` in full-width letters, or ``café`` typed with a combining
accent and with a precomposed ``é``, look alike in every list and log; letting them coexist
within one scope lets one object impersonate another. Names are stored as sent (NFC, see
``schemas.common.SingleLine``) and a new or renamed object is refused (409) when its
:func:`name_key` equals that of another object of the same scope: rivers, connections and river
groups of an environment, environments of an account, variables of an environment, users'
e-mails (all accounts).

The check reads the scope's names (a handful to a few thousand rows). Two concurrent requests
creating case-variants of one name can both pass it; exact duplicates are still stopped by the
unique indexes. Rows that already differ only in case (created before this rule) are left as
they are; renaming one of them to yet another variant is refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from headwater.errors import InvalidFields
from headwater.schemas.common import single_line


def name_key(name: str) -> str:
    """The comparison key: NFKC, case-folded, NFKC again (case folding can denormalise)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


def clash(name: str, existing: Iterable[tuple[str, str]], own_id: str | None) -> str | None:
    """The existing name (of ``(id, name)`` pairs) that is the same as ``name``, if any;
    ``own_id`` (a rename) is not a clash with itself."""
    key = name_key(name)
    for object_id, other in existing:
        if object_id != own_id and name_key(other) == key:
            return other
    return None


def taken_message(noun: str, name: str, other: str, where: str) -> str:
    """``A river named 'x' already exists in this environment`` (plus why, for a look-alike)."""
    message = f"{noun} named {other!r} already exists {where}".rstrip()
    if other != name:
        message += (
            f"; {name!r} differs from it only in letter case or Unicode form, which counts "
            "as the same name"
        )
    return message


def checked_name(value: str, field: str) -> str:
    """``value`` in NFC, or a 422 naming ``field`` when it holds a control character: for
    names that reach a service without a request model (console forms, the CLI)."""
    try:
        return single_line(value)
    except ValueError as exc:
        raise InvalidFields([(field, str(exc))]) from None
