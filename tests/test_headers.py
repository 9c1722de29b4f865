"""Security headers on every page of every role, and no inline code in any page.

Walks the URL map on the world of tests/test_access.py (tests/proof.py: a locked round, an
open one with harvest and holds), so the pages render their tables, forms and charts.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from csa.jobs import run_due_jobs
from csa.models import HarvestEntry, Role, Round
from csa.ui.access import rule_for
from tests.factories import add_member, make_farm
from tests.proof import World, build_world, fill_rule

WALKERS = ["anonymous", "member_a", "farmer", "coordinator", "admin"]

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),  # a script without src
    re.compile(r"<style\b", re.IGNORECASE),
    re.compile(r"\sstyle\s*=", re.IGNORECASE),
    re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),  # onclick="..." and the like
    re.compile(r"javascript:", re.IGNORECASE),
]


def csp_directives(value: str) -> dict[str, str]:
    parts = (d.strip().split(None, 1) for d in value.split(";") if d.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def check_headers(response, where: str, secure: bool = False) -> None:
    headers = response.headers
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("same-origin", "strict-origin-when-cross-origin")
    if response.mimetype != "application/pdf":
        csp = csp_directives(headers.get("Content-Security-Policy", ""))
        assert csp.get("default-src") == "'self'", where
        assert csp.get("frame-ancestors") == "'none'", where
        for directive in ("script-src", "style-src"):
            assert csp.get(directive, csp["default-src"]) == "'self'", where
        assert "unsafe" not in headers["Content-Security-Policy"], where
    if secure:
        assert headers.get("Strict-Transport-Security", "").startswith("max-age="), where
    else:
        assert "Strict-Transport-Security" not in headers, where


@pytest.fixture
def farm(app, db):
    farm = make_farm()
    membership = add_member(farm)
    add_member(farm, site=farm.thursday)
    db.session.commit()
    run_due_jobs(datetime(2027, 5, 3, 8, 0), holder="setup")
    round_ = db.session.query(Round).order_by(Round.date).first()
    db.session.add(HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=12_500))
    db.session.commit()
    return membership


@pytest.fixture
def world(app, db, make_user) -> World:
    return build_world(make_user)


@pytest.mark.parametrize("who", WALKERS)
def test_every_page_of_every_role_has_the_security_headers_and_no_inline_code(
    app, client, auth, world, who
):
    if who != "anonymous":
        auth.login(world.emails[who])
    pages = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint == "auth.logout":
            continue
        assert rule_for(app, rule.endpoint) is not None
        url = fill_rule(rule, world)
        response = client.get(url)
        where = f"GET {url} as {who}: {response.status_code}"
        check_headers(response, where)
        if response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            for pattern in INLINE:
                found = pattern.search(page)
                assert found is None, f"{where}: inline code {found.group(0)!r}"
            pages += response.status_code == 200
        response.close()
    assert pages >= (1 if who == "anonymous" else 3)


def test_error_pages_and_posts_have_the_headers_too(app, client, auth, make_user, farm):
    check_headers(client.get("/no-such-page"), "404")
    user = make_user(Role.MEMBER, member=farm.member)
    check_headers(auth.login(user.email), "login POST")
    check_headers(client.get("/register/"), "403")


def test_hsts_when_cookies_are_secure(app, client):
    app.config["SESSION_COOKIE_SECURE"] = True
    check_headers(client.get("/auth/login"), "login page over HTTPS", secure=True)
