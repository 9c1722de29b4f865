"""Role × view: every route in the URL map declares who may use it, and the rule holds.

A new route without `@roles(...)` or `@public` fails `test_every_route_declares_roles`, and
every declared rule is exercised for each role and method below.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from csa.models import HarvestEntry, Hold, HoldMode, OptOut, Role, Round, ShareType
from csa.rounds.lifecycle import lock_round
from csa.ui.access import PUBLIC, rule_for
from tests.factories import add_member, make_farm
from tests.proof import CSRF_FAILURES, Browser


def test_every_route_declares_roles(app):
    missing = [
        rule.endpoint for rule in app.url_map.iter_rules() if rule_for(app, rule.endpoint) is None
    ]
    assert missing == []


def test_an_undeclared_view_is_refused(app, client, auth, make_user):
    @app.route("/undeclared")
    def undeclared():
        return "should never be served"

    user = make_user(Role.ADMIN)
    auth.login(user.email)
    assert client.get("/undeclared").status_code == 403


# --- the walk: every route, every role, GET and POST with a valid token, B never leaks to A ---

# Unique strings in member B's household: none may appear in anything member A is served.
B_MARKERS = (
    "Qzwxb Leakcheck",  # name
    "qzwxb-notes-7731",  # notes
    "qzwxb@example.org",  # e-mail
    "Qzwxb Lane 99",  # address
    "Qzwxb Jumbo",  # share type, on B's share and round pages beside B's quantities
)
A_NAME = "Anna Avocado"
LOCKED_DAY = date(2027, 5, 4)  # a Tuesday: the farm's Old Mill round, locked with a split
OPEN_DAY = date(2027, 5, 11)
WALKERS = ["anonymous", "member_a", "member_b", "farmer", "coordinator", "admin"]


@dataclass
class World:
    ids: dict[str, int]
    emails: dict[str, str]


@pytest.fixture
def world(app, db, make_user) -> World:
    """Two households with a locked round (stored split), an open one, holds and logins."""
    farm = make_farm()
    a = add_member(farm, name=A_NAME, email="anna-a@example.org")
    b = add_member(farm, name=B_MARKERS[0], email=B_MARKERS[2])
    b.member.notes = B_MARKERS[1]
    b.member.address = B_MARKERS[3]
    b.member.phone = "+48 777 000 111"
    b_share = ShareType(name=B_MARKERS[4], weight_milli=1750, price_cents=1)
    db.session.add(b_share)
    b.share_type = b_share
    locked = Round(date=LOCKED_DAY)
    open_ = Round(date=OPEN_DAY)
    db.session.add_all([locked, open_])
    db.session.flush()
    db.session.add_all(
        [
            HarvestEntry(round=locked, crop=farm.tomatoes, quantity_milli=7_350),
            HarvestEntry(round=locked, crop=farm.pumpkins, quantity_milli=3_000),
            HarvestEntry(round=open_, crop=farm.tomatoes, quantity_milli=4_100),
            Hold(membership_id=b.id, round_date=OPEN_DAY, mode=HoldMode.OTHERS),
            OptOut(membership_id=b.id, crop_id=farm.pumpkins.id),
        ]
    )
    db.session.flush()
    assert lock_round(locked)
    db.session.commit()
    # CSRF on from here, as in production: each POST carries a token taken from a page
    # (Flask-WTF reads the setting per request).
    app.config["WTF_CSRF_ENABLED"] = True
    users = {
        "member_a": make_user(Role.MEMBER, email="user-a@example.org", member=a.member),
        "member_b": make_user(Role.MEMBER, email="user-b@example.org", member=b.member),
        "farmer": make_user(Role.FARMER),
        "coordinator": make_user(Role.COORDINATOR),
        "admin": make_user(Role.ADMIN),
    }
    ids = {
        # URL variables name rows of member B wherever they can: A must not reach them.
        "member_id": b.member.id,
        "membership_id": b.id,
        "user_id": users["member_b"].id,
        "round_id": locked.id,
        "site_id": farm.tuesday.id,
        "entry_id": db.session.scalar(select(HarvestEntry.id).order_by(HarvestEntry.id)),
        "item_id": 1,
        "message_id": 1,
    }
    return World(ids, {k: u.email for k, u in users.items()})


def _walk_url(rule, ids: dict[str, int]) -> str:
    """Fill a rule's variables (B's rows, the locked round's date) and ask for B's rows."""

    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "", match.group(2)
        if converter.startswith("int"):
            return str(ids.get(name, 1))
        if "date" in name:
            return LOCKED_DAY.isoformat()
        if name == "filename":
            return "csa.css"
        if name == "kind":
            return "pickup"
        return "x"

    path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", value, rule.rule)
    query = (
        f"membership={ids['membership_id']}&member={ids['member_id']}&round_id={ids['round_id']}"
    )
    return f"{path}?{query}"


def _leaks(body: bytes) -> list[str]:
    text = body.decode("utf-8", "replace")
    return [m for m in B_MARKERS if m in text or html.escape(m) in text]


@pytest.mark.parametrize("who", WALKERS)
def test_walk_every_route_for_every_role(app, world, who):
    """GET and POST (valid CSRF token) on every rule of the URL map, as each role.

    The rules come from app.url_map, so a route added later is walked too. Refusals follow
    the declared roles, nothing answers 500, no POST fails for want of a token, and nothing
    of member B's household reaches member A.
    """
    browser = Browser(app)
    role = None if who == "anonymous" else Role(who.split("_")[0])
    if role is not None:
        browser.login(world.emails[who])
    else:
        browser.fetch_token("/auth/login")
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    seen: list[bytes] = []
    checked = 0
    for rule in rules:
        if rule.endpoint == "auth.logout":
            continue  # would end the session under test; covered in test_auth
        declared = rule_for(app, rule.endpoint)
        url = _walk_url(rule, world.ids)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method == "POST":
                response = browser.post(url)
            else:
                response = browser.client.open(url, method=method)
            where = f"{method} {url} as {who}: {response.status_code}"
            checked += 1
            assert response.status_code < 500, where
            assert not any(f in response.data for f in CSRF_FAILURES), where
            if declared is PUBLIC:
                assert response.status_code != 403, where
            elif role is None:
                assert response.status_code == 302, where
                assert "/auth/login" in response.headers["Location"], where
            elif role in declared:
                assert response.status_code != 403, where
            else:
                assert response.status_code == 403, where
            body = response.data
            if response.status_code in (301, 302, 303) and method == "POST":
                # What the POST led to: the flashed message names what was changed.
                follow = browser.client.get(response.headers["Location"])
                body += follow.data
                assert follow.status_code < 500, where
            response.close()
            seen.append(body)
            if who == "member_a":
                assert _leaks(body) == [], where
    assert checked > 100
    everything = b"".join(seen)
    if who in ("member_b", "coordinator", "admin"):
        # The markers do show where they belong, so the leak check above can fail.
        assert _leaks(everything) != [], who
    if who == "member_a":
        assert b"2.65 kg" in everything  # A's own tomatoes of the locked round were served
