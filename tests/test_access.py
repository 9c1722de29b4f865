"""Role × view: every route in the URL map declares who may use it, and the rule holds.

A new route without `@roles(...)` or `@public` fails `test_every_route_declares_roles`, and
every declared rule is exercised for each role and method below.
"""

from __future__ import annotations

import re

import pytest

from csa.models import Role
from csa.ui.access import PUBLIC, rule_for
from tests.factories import add_member, make_farm

ROLES = [None, Role.MEMBER, Role.FARMER, Role.COORDINATOR, Role.ADMIN]


def _url_for_rule(rule) -> str:
    """Fill every URL variable with a plausible value (ids of rows that exist: 1)."""

    def value(match: re.Match[str]) -> str:
        converter = match.group(1) or ""
        name = match.group(2)
        if converter.startswith("int"):
            return "1"
        if "date" in name:
            return "2027-05-04"
        if name == "filename":
            return "csa.css"
        return "x"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", value, rule.rule)


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


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
def test_role_matrix(app, client, auth, make_user, db, role):
    farm = make_farm()
    membership = add_member(farm)
    db.session.commit()
    if role is not None:
        user = make_user(role, member=membership.member if role == Role.MEMBER else None)
        auth.login(user.email)
    checked = 0
    for rule in app.url_map.iter_rules():
        declared = rule_for(app, rule.endpoint)
        if rule.endpoint == "auth.logout":
            continue  # would end the session under test; covered in test_auth
        url = _url_for_rule(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            response.close()
            checked += 1
            where = f"{method} {url} as {role}"
            if declared is PUBLIC:
                assert response.status_code != 403, where
            elif role is None:
                assert response.status_code == 302, where
                assert "/auth/login" in response.headers["Location"], where
            elif role in declared:
                assert response.status_code != 403, where
            else:
                assert response.status_code == 403, where
    assert checked > 5
