"""What other features print on a round's pickup lists, and making the lists again when it
changes after the lock.

A pickup list is the farm's split plus what members arranged among themselves: the site's
note for the round ("the gate code is 1234"), who collects a shared membership's share, a
share offered to a neighbour or a friend, a swap, who is on site duty. Those features do
not change the split, and the sheets must not import them; each registers an *annotator*
on the app (`add_annotator`, from its blueprint's `record_once`), and `sheet_data` asks
every registered one for plain text: lines printed at the top of a site's list, and lines
in a member row's Notes cell. Text is already in the reader's language; the templates
escape it.

Sheets of a locked round are made once at the lock (csa/sheets/build.py). When something
they print changes afterwards, the feature calls `request_refresh(round_)` in its own
transaction; the scheduler's `refresh_sheets` job renders the round's sheets again and
deletes the request only if nobody asked again meanwhile, so a change made while the
sheets render is never lost, and a second run finds nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import delete, select, update

from csa.changes.terms import InForce
from csa.core.clock import utcnow
from csa.extensions import changed_rows, db
from csa.models import Round, SheetRefresh

log = logging.getLogger(__name__)

EXTENSION = "csa.sheet_annotators"


@dataclass
class Annotations:
    """What one feature prints on a round's lists: by site id, and by membership id."""

    site_notes: dict[int, list[str]] = field(default_factory=dict)
    row_notes: dict[int, list[str]] = field(default_factory=dict)


# An annotator gets the round, the sites being printed and the memberships on their lists
# (with the terms in force that day); it reads what it needs in a few queries, not per row.
Annotator = Callable[[Round, Collection[int], Mapping[int, InForce]], Annotations]


def add_annotator(app: Flask, annotator: Annotator) -> None:
    """Register a feature's annotator (call once per app, e.g. from `bp.record_once`)."""
    app.extensions.setdefault(EXTENSION, []).append(annotator)


def annotators() -> list[Annotator]:
    return list(current_app.extensions.get(EXTENSION, []))


def gather(
    round_: Round, site_ids: Collection[int], memberships: Mapping[int, InForce]
) -> Annotations:
    """Every registered feature's lines for this round, in registration order."""
    merged = Annotations()
    for annotator in annotators():
        found = annotator(round_, site_ids, memberships)
        for site_id, lines in found.site_notes.items():
            merged.site_notes.setdefault(site_id, []).extend(lines)
        for membership_id, lines in found.row_notes.items():
            merged.row_notes.setdefault(membership_id, []).extend(lines)
    return merged


def request_refresh(round_: Round, now: datetime | None = None) -> None:
    """Ask for a locked round's sheets to be made again; nothing before the lock (the lists
    are computed when they are made). Flushes; the caller commits with its own change."""
    if not round_.is_locked or round_.sheets_at is None:
        return
    now = now or utcnow()
    moved = changed_rows(
        update(SheetRefresh).where(SheetRefresh.round_id == round_.id).values(requested_at=now)
    )
    if not moved:
        db.session.add(SheetRefresh(round_id=round_.id, requested_at=now))
    db.session.flush()


def pending() -> list[SheetRefresh]:
    return list(db.session.scalars(select(SheetRefresh).order_by(SheetRefresh.requested_at)))


def refresh_due() -> int:
    """Render again the sheets of every round asked for, one commit each; return how many.

    A request made while a round renders moves `requested_at`, so the DELETE (which names
    the time this run saw) leaves it for the next run.
    """
    from csa.sheets.build import render_round_sheets

    done = 0
    for request in pending():
        round_id, seen = request.round_id, request.requested_at
        try:
            round_ = db.session.get(Round, round_id)
            if round_ is not None and round_.is_locked:
                render_round_sheets(round_, force=True)
            db.session.execute(
                delete(SheetRefresh).where(
                    SheetRefresh.round_id == round_id, SheetRefresh.requested_at == seen
                )
            )
            db.session.commit()
            done += 1
        except Exception:
            db.session.rollback()
            log.exception("making the sheets of round %s again failed; retried next run", round_id)
    return done
