"""The Round owns its life: csa/rounds/lifecycle.py alone changes a round's status and
writes its log; the status sets are named once; old round events migrate out of
harvest_audit. The source walk reads every module as tests/test_layout.py does.
"""

from __future__ import annotations

import ast
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text

from csa import create_app
from csa.errors import ValidationFailed
from csa.extensions import db as _db
from csa.models import (
    LOCKED_STATES,
    OPEN_STATES,
    HarvestAudit,
    HarvestEntry,
    Role,
    Round,
    RoundAction,
    RoundLog,
    RoundStatus,
)
from csa.rounds import lifecycle
from tests.factories import add_member, make_farm

ROOT = Path(__file__).resolve().parent.parent
CSA = ROOT / "csa"
LIFECYCLE = CSA / "rounds" / "lifecycle.py"
TUE = date(2027, 5, 4)


# --- one writer of a round's status ----------------------------------------------------


ROUND_STATUS_WORDS = {s.value for s in RoundStatus} | {"planned"}


def _mentions_round_status(node: ast.AST) -> bool:
    """RoundStatus.X, or a word only a round's status uses ("locked", "open", ...)."""
    return any(
        (isinstance(n, ast.Name) and n.id == "RoundStatus")
        or (isinstance(n, ast.Constant) and n.value in ROUND_STATUS_WORDS)
        for n in ast.walk(node)
    )


def _names_a_round(node: ast.AST) -> bool:
    """The object whose status is set looks like a round (`round_`, `r.round`, `Round`)."""
    return "round" in ast.unparse(node).lower()


def _updates_round(call: ast.Call) -> bool:
    """`update(Round)` somewhere in the chain a `.values(...)` call hangs on."""
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id == "update"
        and n.args
        and isinstance(n.args[0], ast.Name)
        and n.args[0].id == "Round"
        for n in ast.walk(call.func)
    )


def _has_status_key(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == "status" for k in node.keys
    )


def status_writes(source: str) -> list[int]:
    """The lines of a module that set a round's status, whichever way it is written."""
    found: list[int] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            flat = [t for target in targets for t in ast.walk(target)]
            for target in flat:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "status"
                    and (
                        _names_a_round(target.value)
                        or (node.value is not None and _mentions_round_status(node.value))
                    )
                ):
                    found.append(node.lineno)
        elif isinstance(node, ast.Dict) and _has_status_key(node):
            # {"status": RoundStatus.X}, built first and handed to .values() later.
            if any(v is not None and _mentions_round_status(v) for v in node.values):
                found.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            is_round = isinstance(func, ast.Name) and func.id == "Round"
            is_values = isinstance(func, ast.Attribute) and func.attr == "values"
            for kw in node.keywords:
                if kw.arg == "status" and (
                    is_round
                    or _mentions_round_status(kw.value)
                    or (is_values and _updates_round(node))
                ):
                    found.append(node.lineno)
            for arg in node.args:
                if _has_status_key(arg) and is_values and _updates_round(node):
                    found.append(node.lineno)
            if (
                isinstance(func, ast.Name)
                and func.id == "setattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "status"
                and (_names_a_round(node.args[0]) or _mentions_round_status(node))
            ):
                found.append(node.lineno)
    return sorted(set(found))


def test_only_the_lifecycle_changes_a_rounds_status():
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(CSA.rglob("*.py"))
        if path != LIFECYCLE
        for line in status_writes(path.read_text("utf-8"))
    ]
    assert bad == []


def test_the_lifecycle_does_change_statuses():
    """The walk finds the writes where they belong, so it cannot pass by seeing nothing."""
    assert len(status_writes(LIFECYCLE.read_text("utf-8"))) >= 6


@pytest.mark.parametrize(
    "sample",
    [
        "round_.status = RoundStatus.DISTRIBUTED",
        "r.status = 'locked'",
        "x.status: RoundStatus = RoundStatus.OPEN",
        "self.round.status = RoundStatus.CANCELLED",
        "Round(date=d, status=RoundStatus.OPEN)",
        "Round(date=d, status=s)",
        "db.session.execute(update(Round).where(Round.id == 1).values(status=s))",
        "db.session.execute(update(Round).values({'status': 'open'}))",
        "values = {'status': RoundStatus.LOCKED}",
        "stmt.values(status=RoundStatus.LOCKED)",
        "setattr(round_, 'status', s)",
        "a, round_.status = 1, RoundStatus.OPEN",
    ],
)
def test_the_walk_catches_every_way_of_writing_it(sample):
    assert status_writes(sample) == [1]


@pytest.mark.parametrize(
    "sample",
    [
        "membership.status = MembershipStatus.ENDED",
        "update(Membership).values(status=MembershipStatus.PAUSED)",
        "if round_.status == RoundStatus.OPEN: pass",
        "Membership(status=MembershipStatus.ACTIVE)",
    ],
)
def test_the_walk_leaves_other_statuses_alone(sample):
    assert status_writes(sample) == []


# --- status sets named once ------------------------------------------------------------


def _status_sets(source: str) -> list[tuple[int, set[str]]]:
    sets = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            names = {
                e.attr
                for e in node.elts
                if isinstance(e, ast.Attribute)
                and isinstance(e.value, ast.Name)
                and e.value.id == "RoundStatus"
            }
            if names:
                sets.append((node.lineno, names))
    return sets


def test_open_and_locked_sets_are_written_out_only_in_models():
    named = {frozenset(s.name for s in OPEN_STATES), frozenset(s.name for s in LOCKED_STATES)}
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(CSA.rglob("*.py"))
        if path != CSA / "models.py"
        for line, names in _status_sets(path.read_text("utf-8"))
        if frozenset(names) in named or "PLANNED" in names
    ]
    assert bad == []
    template_tuples = re.compile(r"status(\.value)?\s+(not\s+)?in\s+[(\[]")
    bad = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "templates").rglob("*.html"))
        if template_tuples.search(path.read_text("utf-8"))
    ]
    assert bad == []


def test_planned_is_gone():
    """Never set, so removed: a round is open from the day it exists (rows are migrated)."""
    assert "planned" not in {s.value for s in RoundStatus}
    assert OPEN_STATES == (RoundStatus.OPEN,)


# --- the lifecycle writes the log ------------------------------------------------------


@pytest.fixture
def farm(app, db):
    farm = make_farm()
    add_member(farm)
    db.session.commit()
    return farm


def _log(round_: Round) -> list[tuple[RoundAction, str]]:
    return [(e.action, e.note) for e in reversed(lifecycle.round_log(round_))]


def test_each_change_is_logged_once_in_order(app, db, farm, make_user):
    user = make_user(Role.COORDINATOR)
    today = date(2027, 5, 1)
    round_ = lifecycle.add_round(TUE, user, today=today)
    lifecycle.move_round(round_, date(2027, 5, 5), user, today=today)
    db.session.add(HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=3000))
    db.session.flush()
    assert lifecycle.lock_round(round_, user)
    assert not lifecycle.lock_round(round_, user)  # no change, no event
    lifecycle.reopen_round(round_, user, "  Forgot the beans ")
    assert lifecycle.lock_round(round_, None)
    round_.notified_at = datetime(2027, 5, 4, 8)
    assert lifecycle.distribute_past_rounds(date(2027, 5, 10)) == [round_]
    assert lifecycle.distribute_past_rounds(date(2027, 5, 10)) == []
    assert not lifecycle.distribute_round(round_)  # distributed already
    db.session.commit()
    assert _log(round_) == [
        (RoundAction.EXTRA, ""),
        (RoundAction.MOVE, "2027-05-04 -> 2027-05-05"),
        (RoundAction.LOCK, "1 allocations stored"),
        (RoundAction.REOPEN, "Forgot the beans"),
        (RoundAction.LOCK, "1 allocations stored"),
        (RoundAction.DISTRIBUTE, ""),
    ]
    assert round_.status == RoundStatus.DISTRIBUTED
    # Round events never land in the harvest audit any more.
    assert db.session.scalar(select(func.count()).select_from(HarvestAudit)) == 0


def test_cancel_is_logged_and_a_past_date_is_refused(app, db, farm):
    today = date(2027, 5, 10)
    with pytest.raises(ValidationFailed, match="in the past"):
        lifecycle.add_round(TUE, None, today=today)
    round_ = lifecycle.add_round(date(2027, 5, 11), None, today=today)
    with pytest.raises(ValidationFailed, match="in the past"):
        lifecycle.move_round(round_, TUE, None, today=today)
    lifecycle.cancel_round(round_, "Hail", None)
    assert _log(round_) == [(RoundAction.EXTRA, ""), (RoundAction.CANCEL, "Hail")]
    assert not lifecycle.distribute_round(round_)  # only a locked round is handed out


def test_announced_distribution_counts_its_notices_as_sent(app, db, farm):
    """The demo's past rounds: handed out and announced long ago, so nobody is mailed."""
    round_ = lifecycle.create_round(TUE)
    db.session.add(HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=3000))
    db.session.flush()
    lifecycle.lock_round(round_)
    assert round_.notified_at is None
    assert lifecycle.distribute_round(round_, announced=True)
    assert round_.status == RoundStatus.DISTRIBUTED
    assert round_.notified_at == round_.locked_at


def test_harvest_audit_page_shows_the_round_events(app, db, client, auth, make_user, farm):
    user = make_user(Role.COORDINATOR)
    round_ = lifecycle.add_round(TUE, user, today=date(2027, 5, 1))
    db.session.add(HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=3000))
    db.session.flush()
    lifecycle.lock_round(round_, user)
    lifecycle.reopen_round(round_, user, "Forgot the beans")
    db.session.commit()
    auth.login(user.email)
    html = client.get(f"/harvest/round/{round_.id}/audit").get_data(as_text=True)
    for words in ("round added", "round locked", "round reopened", "Forgot the beans"):
        assert words in html


# --- the migration moves the old round events ------------------------------------------


def _drop_everything() -> None:
    _db.drop_all()
    with _db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS round_log"))
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_migration_moves_round_events_out_of_the_harvest_audit(app_config, forget_schema):
    app = create_app(app_config)
    forget_schema()
    with app.app_context():
        _drop_everything()
        try:
            upgrade(revision="80bcd2c8f491")
            with _db.engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO crop (id, name, unit, step_milli, active) "
                        "VALUES (1, 'Tomatoes', 'kg', 50, :yes)"
                    ),
                    {"yes": True},
                )
                conn.execute(
                    text(
                        'INSERT INTO "round" (id, date, status, cancel_reason, extra) VALUES '
                        "(1, '2027-05-04', 'planned', '', :no), "
                        "(2, '2027-05-06', 'locked', '', :no)"
                    ),
                    {"no": False},
                )
                conn.execute(
                    text(
                        "INSERT INTO harvest_audit (round_id, entry_id, crop_id, user_id, "
                        "at, action, before_milli, after_milli, note) VALUES "
                        "(1, 7, 1, NULL, '2027-05-01 10:00:00', 'create', NULL, 3000, ''), "
                        "(2, NULL, NULL, NULL, '2027-05-05 16:00:00', 'lock', NULL, NULL, "
                        "'2 allocations stored'), "
                        "(2, NULL, NULL, NULL, '2027-05-05 17:00:00', 'reopen', NULL, NULL, "
                        "'Forgot the beans')"
                    )
                )
            upgrade()
            with _db.engine.connect() as conn:
                audit = conn.execute(text("SELECT round_id, action FROM harvest_audit")).all()
                log = conn.execute(
                    text("SELECT round_id, action, note FROM round_log ORDER BY id")
                ).all()
                statuses = conn.execute(text('SELECT id, status FROM "round" ORDER BY id')).all()
            assert [tuple(r) for r in audit] == [(1, "create")]
            assert [tuple(r) for r in log] == [
                (2, "lock", "2 allocations stored"),
                (2, "reopen", "Forgot the beans"),
            ]
            assert [tuple(r) for r in statuses] == [(1, "open"), (2, "locked")]
            # The models read the migrated rows.
            assert [e.action for e in _db.session.scalars(select(RoundLog))] == [
                RoundAction.LOCK,
                RoundAction.REOPEN,
            ]
            _db.session.remove()

            downgrade(revision="80bcd2c8f491")
            with _db.engine.connect() as conn:
                back = conn.execute(
                    text("SELECT action, crop_id, note FROM harvest_audit ORDER BY at")
                ).all()
            assert [tuple(r) for r in back] == [
                ("create", 1, ""),
                ("lock", None, "2 allocations stored"),
                ("reopen", None, "Forgot the beans"),
            ]
        finally:
            _db.session.remove()
            _drop_everything()
            _db.engine.dispose()
