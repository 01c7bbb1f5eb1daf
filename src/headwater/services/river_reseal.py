"""Encrypt river secrets stored in clear by an earlier version (run at server start).

Credential headers of actions and of REST source tables became secrets after rivers holding
them were saved; those rows (and their versions) keep the values in clear until each river is
saved again. The server seals them at start instead, so an upgrade closes the gap at once. Only
rows whose JSON mentions ``headers`` are read, so the pass is cheap when there is nothing to do.
"""

from __future__ import annotations

import logging

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from headwater.security.crypto import SecretBox
from headwater.services.river_secrets import sealed_in_place
from headwater.store.models import River, RiverVersion

logger = logging.getLogger(__name__)


def reseal_clear_secrets(session: Session, box: SecretBox) -> int:
    """Encrypt every secret field still in clear in rivers and river versions; the count of
    rows changed."""
    changed = 0
    rivers = select(River).where(cast(River.definition, String).contains('"headers"'))
    versions = select(RiverVersion).where(
        cast(RiverVersion.definition, String).contains('"headers"')
    )
    rows: list[River | RiverVersion] = [*session.scalars(rivers), *session.scalars(versions)]
    for row in rows:
        sealed = sealed_in_place(row.definition, box)
        if sealed is not None:
            row.definition = sealed
            changed += 1
    session.commit()
    if changed:
        logger.info("encrypted secrets stored in clear in %d river rows", changed)
    return changed
