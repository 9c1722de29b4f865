"""When an open round's split must be computed again: data versions and small caches.

The split of an open round depends on its harvest totals, holds, opt-outs, memberships,
membership changes, share types, sites, crops, rounds (status, date, move) and the locked
allocations of earlier rounds (the balances). Every write to one of those tables but the
harvest bumps one counter row, `data_version`, in the same transaction: generically, through session
events, so a write added later by any module bumps it without remembering to:

* `before_flush` sees new, changed and deleted ORM instances of those models;
* `do_orm_execute` sees bulk `insert` / `update` / `delete` statements on their tables.

Each process keeps the inputs of the last few rounds (`live_split_inputs`, all but the
harvest) keyed by (database token, version, round), and their splits (`live_splits`)
keyed by (token, version, round, the round's harvest totals): the totals are read on
every view (one small query), so a harvest save, the most frequent write, splits again
only the round it changed, from inputs already read. The split is a pure function of
inputs and totals, so a key is never wrong for its value. Plain data only (the pure
`csa.core.allocation` results), never ORM objects. Several
gunicorn workers each cache; the version lives in the database, so none serves a split
older than the last commit. Raw SQL (`text()`) or a connection outside the session is not
seen: write through the session.

The season balances carried into an open round (read from every locked round before it,
most of a recompute: 0.37 of 0.39 s at 1,000 members and 24 locked rounds) depend only on
allocations and rounds. A second row of the same table, the balance version, counts
writes to those two tables alone, so a harvest save or a hold recomputes the split of one
round from balances kept in `carried_balances`, not from the season's history.
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
        "hold",
        "membership",
        "membership_change",  # the terms in force on a date (csa/changes/terms.py)
        "opt_out",
        "pickup_site",
        "round",
        "round_surplus",
        "share_type",
    }
)
# What the balances carried into an open round are read from (csa/rounds/split.py).
BALANCE_TABLES = frozenset({"allocation", "round"})
SPLIT_ROW, BALANCE_ROW = 1, 2  # the rows of data_version
_BUMPED = "csa_data_version_bumped"  # session.info key: this transaction changed inputs
_BUMPED_BALANCES = "csa_balance_version_bumped"  # ... changed what balances are read from
CACHE_SIZE = 4  # rounds; a 5,000 x 30 split holds ~150,000 small shares

_version_table = cast(Table, DataVersion.__table__)
T = TypeVar("T")


def _bump(session: Session, tables: set[str]) -> None:
    """Add one to the counters these tables feed, in the session's transaction (Core, so no
    flush, no event): the split version always, the balance version for its two tables."""
    connection = session.connection()
    rows = [(SPLIT_ROW, _BUMPED)]
    if tables & BALANCE_TABLES:
        rows.append((BALANCE_ROW, _BUMPED_BALANCES))
    for row_id, flag in rows:
        changed = connection.execute(
            update(_version_table)
            .where(_version_table.c.id == row_id)
            .values(value=_version_table.c.value + 1)
        ).rowcount
        if not changed:  # a database made before the row existed
            connection.execute(
                insert(_version_table).values(id=row_id, token=new_version_token(), value=1)
            )
        session.info[flag] = True


def _touched_inputs(session: Session) -> set[str]:
    """The tracked tables this flush writes to."""
    touched = set()
    for obj in session.new | session.deleted:
        name = getattr(type(obj), "__tablename__", None)
        if name in TRACKED_TABLES:
            touched.add(name)
    for obj in session.dirty:
        name = getattr(type(obj), "__tablename__", None)
        if name in TRACKED_TABLES and session.is_modified(obj, include_collections=False):
            touched.add(name)
    return touched


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    touched = _touched_inputs(session)
    if touched:
        _bump(session, touched)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    name = getattr(getattr(state.statement, "table", None), "name", None)
    if name in TRACKED_TABLES:
        _bump(state.session, {name})


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BUMPED, None)
        session.info.pop(_BUMPED_BALANCES, None)


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


def _version(row_id: int, flag: str) -> tuple[str, int] | None:
    session = db.session()
    if session.info.get(flag):
        return None
    row = session.execute(
        select(_version_table.c.token, _version_table.c.value).where(_version_table.c.id == row_id)
    ).first()
    return (row[0], row[1]) if row else None


def current_version() -> tuple[str, int] | None:
    """(token, value) as this transaction sees it; None while it has unsaved input changes.

    Uncommitted changes would make a key another transaction could reach with other data
    (after a rollback), so such a transaction neither reads nor fills the cache.
    """
    return _version(SPLIT_ROW, _BUMPED)


def balance_version() -> tuple[str, int] | None:
    """The balance version, as `current_version` (None: this transaction changed what the
    balances are read from, or the row is missing, so nothing is cached)."""
    return _version(BALANCE_ROW, _BUMPED_BALANCES)


class SplitCache:
    """A small LRU of computed values, safe across a worker's threads; counts what it does.

    `version` says which data version the values belong to (None: do not cache)."""

    def __init__(
        self,
        size: int = CACHE_SIZE,
        version: Callable[[], tuple[str, int] | None] = current_version,
    ) -> None:
        self.size = size
        self.version = version
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # values computed (cache misses and uncached reads)
        self.hits = 0

    def get_or_compute(self, what: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for `what` (a round id) at the current version, else `compute()`."""
        before = self.version()
        if before is None:
            self.computed += 1
            return compute()
        key = (*before, what)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        value = compute()
        self.computed += 1
        # PostgreSQL reads committed data statement by statement: if a write committed
        # while we read, the data may mix two versions, so keep it only if none did.
        if self.version() == before:
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


live_splits = SplitCache()  # keyed by (round id, its harvest totals)
live_split_inputs = SplitCache()  # keyed by round id: all but the harvest (split.LiveInputs)
# Keyed by (round date, memberships); 8: each open round of a few weeks, at two sizes.
carried_balances = SplitCache(size=8, version=balance_version)


def clear_caches() -> None:
    """Forget every cached split and balance (tests use it to compare with a cold start)."""
    live_splits.clear()
    live_split_inputs.clear()
    carried_balances.clear()


install()
