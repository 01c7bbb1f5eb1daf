"""The explicit registry of river-type handlers."""

from __future__ import annotations

from typing import Any

from headwater.runner.actions import ActionsHandler
from headwater.runner.contracts import Handler
from headwater.runner.logic import LogicHandler
from headwater.runner.source_to_target import SourceToTargetHandler

HANDLERS: dict[str, Handler[Any]] = {
    "src_to_trgt": SourceToTargetHandler(),
    "logic": LogicHandler(),
    "actions": ActionsHandler(),
}
