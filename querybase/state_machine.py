"""Status columns as state machines: the allowed moves written as data, and one way to move.

Each domain declares its table next to its model (a run, an approval request, a delivery)
and changes the status only through `StateMachine.move`. The move is one conditional
UPDATE (`WHERE status IN <allowed sources>`): of two workers, clicks, deliveries or
sweepers racing for the same move, exactly one gets True. Whatever must be recorded with
the move (an audit event, a notification) runs in the same transaction through `then`,
so whoever sees the new status also finds its record. A machine may also name who hears
of its moves (`announce`, e.g. the live events of apps/live): called after the commit,
so nobody hears of a move that was rolled back, for every move, with or without `then`.
A caller that already knows who hears of it (a run's owner) passes them as `audience`,
so the announcement costs no query.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import models, transaction

from querybase.inserts import SqlExpression, update_then_insert


class IllegalTransition(Exception):
    """A move the table does not allow: a bug in the caller, never a race."""


@dataclass(frozen=True)
class StateMachine:
    model: type[models.Model]
    transitions: Mapping[str, frozenset[str]]
    field: str = "status"
    #: Called with (pk, target, audience) once a move commits; its failures never undo the
    #: move. `audience` is the mover's, or None when the caller left it to the machine.
    announce: Callable[[Any, str, Collection[int] | None], None] | None = None

    def sources_of(self, target: str) -> frozenset[str]:
        """Every status from which `target` may be reached."""
        return frozenset(source for source, targets in self.transitions.items() if target in targets)

    def move(
        self,
        pk: Any,
        target: str,
        *,
        from_: Iterable[str] | None = None,
        then: Callable[[], object] | None = None,
        record: Sequence[models.Model] = (),
        also: SqlExpression | None = None,
        audience: Collection[int] | None = None,
        **fields: Any,
    ) -> bool:
        """Move row `pk` to `target` if its status is one of `from_` (default: any status
        allowed to reach `target`), setting `fields` too. Returns whether this call moved it;
        `then` runs only if it did, in the same transaction.

        `record`: new rows (an audit event) inserted only if it moved, in the same
        statement as the move (querybase.inserts.update_then_insert): one round trip
        where `then` costs four. `also`: an SQL expression evaluated in that statement
        (a session lock given back). Neither goes with `then`. `audience`: the user ids
        the announcement goes to, when the caller knows them."""
        allowed = self.sources_of(target)
        sources = allowed if from_ is None else frozenset(from_)
        illegal = sources - allowed
        if illegal or not sources:
            name = self.model.__name__
            raise IllegalTransition(f"{name}: {', '.join(sorted(illegal)) or '∅'} → {target} is not an allowed move")
        rows = self.model._default_manager.filter(pk=pk, **{f"{self.field}__in": sources})
        if record or also is not None:
            if then is not None:
                raise ValueError("`then` cannot go with `record` or `also`")
            moved = update_then_insert(rows, {self.field: target, **fields}, record, also=also) == 1
            if moved:
                self._announce_on_commit(pk, target, audience)
            return moved
        if then is None:
            # One UPDATE is atomic by itself: no BEGIN and COMMIT round trips around it.
            moved = rows.update(**{self.field: target}, **fields) == 1
            if moved:
                self._announce_on_commit(pk, target, audience)  # at once, outside a transaction
            return moved
        with transaction.atomic():
            moved = rows.update(**{self.field: target}, **fields) == 1
            if moved:
                then()
                self._announce_on_commit(pk, target, audience)
        return moved

    def _announce_on_commit(self, pk: Any, target: str, audience: Collection[int] | None) -> None:
        if self.announce is not None:
            transaction.on_commit(partial(self.announce, pk, target, audience), robust=True)
