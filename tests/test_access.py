"""Role × view: every route in the URL map declares who may use it, and the rule holds.

A new route without `@roles(...)` or `@public` fails `test_every_route_declares_roles`, and
every declared rule is exercised for each role and method below.
"""

from __future__ import annotations

import html

import pytest

from csa.models import Role
from csa.ui.access import PUBLIC, rule_for
from tests.proof import B_MARKERS, CSRF_FAILURES, Browser, World, build_world, fill_rule


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

WALKERS = ["anonymous", "member_a", "member_b", "farmer", "coordinator", "admin"]


@pytest.fixture
def world(app, db, make_user) -> World:
    world = build_world(make_user)
    # CSRF on from here, as in production: each POST carries a token taken from a page
    # (Flask-WTF reads the setting per request).
    app.config["WTF_CSRF_ENABLED"] = True
    return world


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
        url = fill_rule(rule, world)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = browser.post(url) if method == "POST" else browser.open(url, method)
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
                follow = browser.get(response.headers["Location"])
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
