"""The explicit registry of river-type handlers."""

from __future__ import annotations

from headwater.runner.actions import ActionsHandler
from headwater.runner.execute import Handler
from headwater.runner.logic import LogicHandler
from headwater.runner.source_to_target import SourceToTargetHandler

HANDLERS: dict[str, Handler] = {
    "src_to_trgt": SourceToTargetHandler(),
    "logic": LogicHandler(),
    "actions": ActionsHandler(),
}
