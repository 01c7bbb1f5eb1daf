"""The target transactions of one table job, committed at a connector's STATE points.

A plain table job loads in one transaction. A source that keeps its own state (Airbyte,
Singer: ``connector_state``) may yield :class:`~headwater.connectors.base.StatePoint` items
in an append or merge load: at each one the rows so far and that state are committed in one
target transaction, with the same joint change capture commits its chunks with
(``Loader.commit(CursorState)``, see :mod:`headwater.engine.cdc`), and the load goes on in a
new transaction planned against the table as it now is. A run killed afterwards leaves the
committed rows and the state that covers exactly them, so the next run resumes there: nothing
is lost and nothing is loaded twice. Overwrite loads never get state points (a partial
overwrite would replace the table with part of the data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from headwater.connectors.base import CursorState, Loader, LoadPlan, TableRef, Target
from headwater.connectors.values import encode_cursor


class Transactions:
    """The open load of a job and what its earlier state-point commits loaded."""

    def __init__(
        self,
        target: Target,
        plan: LoadPlan,
        state_key: str,
        load_id: str,
        emit: Callable[[str, str], None],
        what: str,
    ) -> None:
        self.target = target
        self.plan = plan
        self.state_key = state_key
        self.load_id = load_id
        self.emit = emit
        self.what = what
        self.loader: Loader | None = target.begin(plan)
        self.committed_rows = 0
        self.commits = 0
        self.state: str | None = None

    @property
    def current(self) -> Loader:
        if self.loader is None:
            raise RuntimeError("no open load (a state-point commit failed)")
        return self.loader

    def state_point(self, state: str) -> None:
        """Commit the rows so far with ``state``, then open the next transaction."""
        loader = self.current
        self.loader = None
        kind = encode_cursor(state)[1]
        try:
            rows = loader.commit(CursorState(self.state_key, state, kind, self.load_id))
        except BaseException:
            loader.abort()
            raise
        self.committed_rows += rows
        self.commits += 1
        self.state = state
        self.emit(
            "info",
            f"{self.what}: committed {self.committed_rows} rows and the connector state "
            f"(state point {self.commits})",
        )
        self.loader = self.target.begin(self.next_plan(self.plan.target))

    def next_plan(self, ref: TableRef) -> LoadPlan:
        """The plan of the next transaction: the table exists now, with every planned column
        (drift was applied by the first commit)."""
        return dataclasses.replace(
            self.plan,
            existing=self.target.describe(ref),
            add_columns=(),
            widen_columns=(),
        )

    def commit(self, state: CursorState | None) -> int:
        """Commit the last transaction; the rows of every transaction of the job."""
        return self.committed_rows + self.current.commit(state)

    def abort(self) -> None:
        if self.loader is not None:
            self.loader.abort()
            self.loader = None
