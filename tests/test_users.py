"""The logins an admin manages (csa/accounts/views.py): list, new staff login with its
invitation, role, deactivation, a new link. Coordinators and everyone else get 403."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from csa.models import Membership, MembershipStatus, Role, User
from tests.factories import add_member, make_farm


@pytest.fixture
def admin(client, auth, make_user):
    user = make_user(Role.ADMIN)
    auth.login(user.email)
    return user


@pytest.fixture
def coordinator(client, auth, make_user):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def _link(html: str) -> str:
    match = re.search(r'<pre class="link" id="invite-link">([^<]+)</pre>', html)
    assert match, html
    return match.group(1)


def test_coordinator_may_not_manage_users(client, coordinator, make_user):
    other = make_user(Role.FARMER)
    assert client.get("/auth/users").status_code == 403
    assert client.post("/auth/users/new", data={"email": "x@example.org"}).status_code == 403
    assert client.post(f"/auth/users/{other.id}/deactivate").status_code == 403
    assert other.active


def test_admin_lists_users(client, admin, make_user):
    make_user(Role.FARMER, email="farmer@example.org")
    make_user(Role.COORDINATOR, email="coordinator@example.org")
    response = client.get("/auth/users")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "farmer@example.org" in html
    assert "coordinator@example.org" in html
    only_farmers = client.get("/auth/users?role=farmer").get_data(as_text=True)
    assert "farmer@example.org" in only_farmers
    assert "coordinator@example.org" not in only_farmers


def test_admin_creates_a_staff_user_with_an_invitation(client, admin, db):
    assert client.get("/auth/users/new").status_code == 200
    response = client.post(
        "/auth/users/new",
        data={"email": "Zofia@Farm.example", "name": "Zofia", "role": "coordinator"},
    )
    assert response.status_code == 200
    user = db.session.scalar(select(User).where(User.email == "zofia@farm.example"))
    assert (user.role, user.name, user.password_hash, user.member_id) == (
        Role.COORDINATOR,
        "Zofia",
        "",
        None,
    )
    link = _link(response.get_data(as_text=True))
    client.post("/auth/logout")
    path = link.removeprefix("http://localhost")
    response = client.post(path, data={"password": "a-long-password", "confirm": "a-long-password"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.check_password("a-long-password")


def test_staff_user_needs_a_new_email_and_a_staff_role(client, admin, db, make_user):
    make_user(Role.FARMER, email="taken@example.org")
    taken = client.post(
        "/auth/users/new", data={"email": "TAKEN@example.org", "name": "", "role": "farmer"}
    )
    assert taken.status_code == 400
    assert "A login with the e-mail taken@example.org exists." in taken.get_data(as_text=True)
    member_role = client.post(
        "/auth/users/new", data={"email": "new@example.org", "name": "", "role": "member"}
    )
    assert member_role.status_code == 400
    assert db.session.scalar(select(User).where(User.email == "new@example.org")) is None


def test_admin_changes_roles_but_not_its_own(client, admin, db, make_user):
    farmer = make_user(Role.FARMER)
    response = client.post(f"/auth/users/{farmer.id}/role", data={"role": "coordinator"})
    assert (response.status_code, response.headers["Location"]) == (302, "/auth/users")
    db.session.refresh(farmer)
    assert farmer.role == Role.COORDINATOR

    response = client.post(
        f"/auth/users/{admin.id}/role", data={"role": "farmer"}, follow_redirects=True
    )
    assert "You cannot change your own role." in response.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.role == Role.ADMIN

    response = client.post(
        f"/auth/users/{farmer.id}/role", data={"role": "member"}, follow_redirects=True
    )
    assert "Only a login tied to a member household" in response.get_data(as_text=True)
    db.session.refresh(farmer)
    assert farmer.role == Role.COORDINATOR


def test_admin_deactivates_and_reactivates_users(client, admin, db, make_user, auth):
    farmer = make_user(Role.FARMER)
    response = client.post(f"/auth/users/{farmer.id}/deactivate")
    assert (response.status_code, response.headers["Location"]) == (302, "/auth/users")
    db.session.refresh(farmer)
    assert farmer.active is False
    client.post(f"/auth/users/{admin.id}/deactivate")
    db.session.refresh(admin)
    assert admin.active is True
    client.post(f"/auth/users/{farmer.id}/reactivate")
    db.session.refresh(farmer)
    assert farmer.active is True


def test_admin_gets_a_new_link_for_a_user_without_a_password(client, admin, db, make_user):
    farmer = make_user(Role.FARMER)
    farmer.password_hash = ""
    db.session.commit()
    response = client.post(f"/auth/users/{farmer.id}/invite")
    assert response.status_code == 200
    assert "/auth/set-password/" in _link(response.get_data(as_text=True))


def test_a_new_link_never_replaces_a_password_silently(client, admin, db, make_user):
    """Replacing a password is the audited reset (tests/test_password_reset.py)."""
    farmer = make_user(Role.FARMER)
    response = client.post(f"/auth/users/{farmer.id}/invite", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "has a password already; use “Reset password”" in html
    assert "/auth/set-password/" not in html
    db.session.refresh(farmer)
    assert farmer.password_hash


def _user_urls(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("auth.user") or rule.endpoint.startswith("register.user"):
            url = re.sub(r"<int:\w+>", "1", rule.rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, url


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FARMER, Role.COORDINATOR])
def test_only_admins_open_the_user_pages(app, client, auth, make_user, db, role):
    membership = add_member(make_farm())
    db.session.commit()
    target = make_user(Role.FARMER, email="target@example.org")
    user = make_user(role, member=membership.member if role == Role.MEMBER else None)
    auth.login(user.email)
    urls = list(_user_urls(app))
    # users, new (2), role, deactivate, reactivate, invite; the two old addresses.
    assert len(urls) == 7 + 2
    for method, url in urls:
        response = client.open(url.replace("/1/", f"/{target.id}/"), method=method)
        assert response.status_code == 403, f"{method} {url}"
    db.session.refresh(target)
    assert (target.role, target.active) == (Role.FARMER, True)
    assert db.session.get(Membership, membership.id).status == MembershipStatus.ACTIVE


def test_old_user_addresses_move_for_good(client, admin):
    for old, new in (
        ("/register/users", "/auth/users"),
        ("/register/users/new", "/auth/users/new"),
    ):
        response = client.get(old)
        assert (response.status_code, response.headers["Location"]) == (301, new)
        assert client.get(new).status_code == 200


def test_the_navigation_marks_users_on_its_sub_pages(client, admin):
    html = client.get("/auth/users/new").get_data(as_text=True)
    assert '<a href="/auth/users" aria-current="true">Users</a>' in html
