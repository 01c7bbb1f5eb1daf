"""What a river's change capture leaves at its source, dropped when the river goes away.

A PostgreSQL slot keeps WAL until it is advanced: a disabled or deleted river whose slot
stays can fill the source's disk. ``source.cdc.on_disable`` says what the user wants:
``keep`` (the default: a re-enabled river resumes where it stopped) or ``drop`` (the slot
and publication are removed; the next run takes a new snapshot). Every way of disabling or
deleting a river comes here: the API (``drop_slot`` query parameter), the console (the
"Drop the replication slot" box of the disable form, ticked by the river's setting) and
``headwater apply`` (the document's ``on_disable``), so the same choice does the same thing.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from headwater.connectors.changes import ChangeSource
from headwater.connectors.errors import ConnectorError
from headwater.errors import HeadwaterError
from headwater.schemas.rivers_s2t import SrcToTrgtRiver
from headwater.security.crypto import SecretBox
from headwater.services import connection_types, river_secrets
from headwater.services.connections import connection_config

log = logging.getLogger(__name__)


def _model(definition: dict[str, Any], box: SecretBox) -> SrcToTrgtRiver | None:
    try:
        return SrcToTrgtRiver.model_validate(river_secrets.opened(definition, box))
    except (ValidationError, ValueError):
        return None


def captures_changes(definition: dict[str, Any]) -> bool:
    """Whether a river definition has a ``cdc`` table (no secrets needed to tell)."""
    for schema in (definition.get("properties") or {}).get("schemas") or []:
        for table in schema.get("tables") or []:
            if ((table.get("details") or {}).get("extract_method")) == "cdc":
                return True
    return False


def drops_by_default(definition: dict[str, Any]) -> bool:
    """The river's own choice (``source.cdc.on_disable``), what a form shows ticked."""
    source = (definition.get("properties") or {}).get("source") or {}
    return bool((source.get("cdc") or {}).get("on_disable") == "drop")


def release_change_capture(
    session: Session,
    box: SecretBox,
    river_id: str,
    definition: dict[str, Any],
    drop: bool | None = None,
) -> str | None:
    """Drop the river's slot and publication when the user asks for it: ``drop`` when given
    (the console's box, the API's ``drop_slot``), else the river's ``on_disable``; return
    what was done, or ``None``. Never raises: disabling or deleting the river must not
    depend on the source being reachable (the failure is logged with the slot's name)."""
    model = _model(definition, box)
    if model is None:
        return None
    tables = [t for s in model.properties.schemas for t in s.tables]
    wanted = model.properties.source.cdc.on_disable == "drop" if drop is None else drop
    if not wanted or not any(t.details.extract_method == "cdc" for t in tables):
        return None
    try:
        kind, props = connection_config(session, box, model.properties.source.connection_id)
        source = connection_types.registry().open_source(kind, props)
        try:
            if not isinstance(source, ChangeSource):
                return None
            reader = source.change_reader(river_id)
            try:
                reader.drop()
            finally:
                reader.close()
        finally:
            source.close()
    except (ConnectorError, HeadwaterError) as exc:
        log.warning("River %s: could not drop its change capture slot: %s", river_id, exc)
        return f"could not drop the change capture slot: {exc}"
    log.info("River %s: change capture slot and publication dropped", river_id)
    return "change capture slot dropped"
