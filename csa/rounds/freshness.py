"""When an open round's split must be computed again: a data version and a small cache.

The split of an open round depends on harvest entries, holds, opt-outs, memberships, share
types, sites, crops, rounds (status, date, move) and the locked allocations of earlier
rounds (the balances). Every write to one of those tables bumps one counter row,
`data_version`, in the same transaction: generically, through session events, so a write
added later by any module bumps it without remembering to:

* `before_flush` sees new, changed and deleted ORM instances of those models;
* `do_orm_execute` sees bulk `insert` / `update` / `delete` statements on their tables.

Each process keeps the last few computed splits keyed by (database token, version, round):
plain data only (the pure `csa.core.allocation` results), never ORM objects. Several
gunicorn workers each cache; the version lives in the database, so none serves a split
older than the last commit. Raw SQL (`text()`) or a connection outside the session is not
seen: write through the session.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from sqlalchemy import Table, event, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from csa.extensions import db
from csa.models import DataVersion, new_version_token

TRACKED_TABLES = frozenset(
    {
        "allocation",
        "crop",
        "harvest_entry",
        "hold",
        "membership",
        "opt_out",
        "pickup_site",
        "round",
        "round_surplus",
        "share_type",
    }
)
_BUMPED = "csa_data_version_bumped"  # session.info key: this transaction changed inputs
CACHE_SIZE = 4  # rounds; a 5,000 x 30 split holds ~150,000 small shares

_version_table = cast(Table, DataVersion.__table__)
T = TypeVar("T")


def _bump(session: Session) -> None:
    """Add one to the counter in the session's transaction (Core, so no flush, no event)."""
    connection = session.connection()
    changed = connection.execute(
        update(_version_table)
        .where(_version_table.c.id == 1)
        .values(value=_version_table.c.value + 1)
    ).rowcount
    if not changed:
        connection.execute(insert(_version_table).values(id=1, token=new_version_token(), value=1))
    session.info[_BUMPED] = True


def _touches_inputs(session: Session) -> bool:
    for obj in session.new | session.deleted:
        if getattr(type(obj), "__tablename__", None) in TRACKED_TABLES:
            return True
    for obj in session.dirty:
        if getattr(type(obj), "__tablename__", None) in TRACKED_TABLES and session.is_modified(
            obj, include_collections=False
        ):
            return True
    return False


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if _touches_inputs(session):
        _bump(session)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in TRACKED_TABLES:
        _bump(state.session)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BUMPED, None)


def install() -> None:
    """Listen on the app's session class (idempotent: SQLAlchemy ignores a second listen)."""
    target = db.session
    for name, fn in (
        ("before_flush", _before_flush),
        ("do_orm_execute", _do_orm_execute),
        ("after_transaction_end", _after_transaction_end),
    ):
        if not event.contains(target, name, fn):
            event.listen(target, name, fn)


def current_version() -> tuple[str, int] | None:
    """(token, value) as this transaction sees it; None while it has unsaved input changes.

    Uncommitted changes would make a key another transaction could reach with other data
    (after a rollback), so such a transaction neither reads nor fills the cache.
    """
    session = db.session()
    if session.info.get(_BUMPED):
        return None
    row = session.execute(
        select(_version_table.c.token, _version_table.c.value).where(_version_table.c.id == 1)
    ).first()
    return (row[0], row[1]) if row else None


class SplitCache:
    """A small LRU of computed splits, safe across a worker's threads; counts what it does."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # splits computed (cache misses and uncached reads)
        self.hits = 0

    def get_or_compute(self, round_id: int, compute: Callable[[], T]) -> T:
        """The cached value for this round at the current version, else `compute()`."""
        before = current_version()
        if before is None:
            self.computed += 1
            return compute()
        key = (*before, round_id)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        value = compute()
        self.computed += 1
        # PostgreSQL reads committed data statement by statement: if a write committed
        # while we read, the data may mix two versions, so keep it only if none did.
        if current_version() == before:
            with self._lock:
                self._entries[key] = value
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


live_splits = SplitCache()
install()
