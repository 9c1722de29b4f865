"""The sign-in and forgot-password throttle, counted in the database for every worker.

Each attempt is counted *before* it is tried, by one conditional UPDATE that only succeeds
while the key is not waiting out a delay (``blocked_until``), and returns the new count.
That statement is atomic on PostgreSQL (row lock, WHERE re-checked after the wait) and on
SQLite (one writer at a time), so forty parallel attempts cannot all pass one check: they
queue on the row and each sees the delay the one before it set. The delays grow by the rule
in csa/core/backoff.py.

Keys: a sign-in counts against the (e-mail, address) pair, so a stranger elsewhere cannot
lock the real user out, and against the address alone (e-mail ""), with a far wider
allowance, so one address cannot sweep many accounts. A successful sign-in clears its pair
and takes its own attempt back from the address.

Everything here only flushes; the caller commits (the login view commits the count before it
checks the password, so the check never runs uncounted).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from csa.core.backoff import Backoff
from csa.core.clock import utcnow
from csa.extensions import changed_rows, db
from csa.models import LoginThrottle

LOGIN = "login"
FORGOT = "forgot"
RULES = ("LOGIN_PAIR", "LOGIN_ADDRESS", "FORGOT_ADDRESS", "FORGOT_EMAIL")


def rule(name: str) -> Backoff:
    """The backoff of one key kind from the config: LOGIN_PAIR, LOGIN_ADDRESS, FORGOT_..."""
    free, first, cap, forget = current_app.config[f"THROTTLE_{name}"]
    return Backoff(free=int(free), first=float(first), cap=float(cap), forget=float(forget))


def _ensure_row(scope: str, email: str, address: str, now: datetime) -> None:
    """Create the key's row if it is missing; a parallel creator wins quietly."""
    values: dict[str, Any] = {
        "scope": scope,
        "email": email,
        "address": address,
        "failures": 0,
        "last_failure_at": now,
    }
    index = ["scope", "email", "address"]
    if db.session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(LoginThrottle).values(**values)
    else:
        stmt = sqlite.insert(LoginThrottle).values(**values)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=index))


def _key(scope: str, email: str, address: str) -> Any:
    return (
        (LoginThrottle.scope == scope)
        & (LoginThrottle.email == email)
        & (LoginThrottle.address == address)
    )


def take(scope: str, email: str, address: str, backoff: Backoff) -> float:
    """Count one attempt for the key; return 0 if it may go ahead, else seconds to wait.

    A refused attempt is not counted, so waiting is all it takes.
    """
    return _take(scope, email, address, backoff)[0]


def _take(scope: str, email: str, address: str, backoff: Backoff) -> tuple[float, int]:
    """take(), also returning the key's count after this attempt (0 when refused)."""
    now = utcnow()
    _ensure_row(scope, email, address, now)
    stale = now - timedelta(seconds=backoff.forget)
    counted = db.session.execute(
        update(LoginThrottle)
        .where(
            _key(scope, email, address),
            (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until <= now),
        )
        .values(
            failures=case(
                (LoginThrottle.last_failure_at < stale, 1), else_=LoginThrottle.failures + 1
            ),
            last_failure_at=now,
        )
        .returning(LoginThrottle.failures)
        .execution_options(synchronize_session=False)
    ).scalar()
    if counted is None:
        until = db.session.scalar(
            select(LoginThrottle.blocked_until).where(_key(scope, email, address))
        )
        return (max(1.0, (until - now).total_seconds()) if until else 1.0), 0
    delay = backoff.delay_after(int(counted))
    if delay > 0:
        # Still inside the UPDATE's transaction, which holds the row: nobody slips between.
        db.session.execute(
            update(LoginThrottle)
            .where(_key(scope, email, address))
            .values(blocked_until=now + timedelta(seconds=delay))
            .execution_options(synchronize_session=False)
        )
    return 0.0, int(counted)


def give_back(scope: str, email: str, address: str) -> None:
    """Take back one counted attempt (it turned out not to be a failure)."""
    changed_rows(
        update(LoginThrottle)
        .where(_key(scope, email, address), LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1)
        .execution_options(synchronize_session=False)
    )


def clear(scope: str, email: str, address: str) -> None:
    """Forget the key: its attempts were the real owner's."""
    changed_rows(delete(LoginThrottle).where(_key(scope, email, address)))


def take_login(email: str, address: str) -> float:
    """Count a sign-in attempt against the address and the (e-mail, address) pair.

    Return 0 when it may be checked, else the seconds to wait (nothing is counted then).
    """
    wait, count = _take(LOGIN, "", address, rule("LOGIN_ADDRESS"))
    if wait:
        return wait
    if count == 1:
        # An address starting afresh (at most once an hour each) sweeps out dead keys, so
        # sprayed e-mails do not pile up rows for ever.
        prune()
    wait = take(LOGIN, email, address, rule("LOGIN_PAIR"))
    if wait:
        give_back(LOGIN, "", address)
    return wait


def login_succeeded(email: str, address: str) -> None:
    """The password was right: return the attempt to the address and clear the pair.

    In the order `take_login` locks them (address, then pair): two sign-ins of one login from
    one address at once, one counting while the other succeeds, would otherwise each hold
    the row the other waits for (PostgreSQL ends one with "deadlock detected").
    """
    give_back(LOGIN, "", address)
    clear(LOGIN, email, address)


def prune() -> int:
    """Delete every key quiet for longer than the longest "forget": it would restart at zero.

    Its delay ended long before (a delay never outlasts its rule's forget period).
    """
    longest = max(rule(name).forget for name in RULES)
    return changed_rows(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < utcnow() - timedelta(seconds=longest)
        )
    )


def wait_seconds(wait: float) -> int:
    """Whole seconds to tell a person (never 0 for a refused attempt)."""
    return max(1, math.ceil(wait))
