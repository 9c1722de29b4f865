"""The demo farm loads on an empty database, twice without error, and the logins work."""

from __future__ import annotations

from sqlalchemy import func, select

from csa.demo import DEMO_PASSWORD
from csa.models import Member, Membership, PickupSite, Role, Season, ShareType, User


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_loads_twice_without_error(runner, db):
    first = runner.invoke(args=["csa", "demo"])
    assert first.exit_code == 0, first.output
    assert "Demo farm loaded" in first.output
    counts = {m: count(db, m) for m in (Season, ShareType, PickupSite, Member, Membership, User)}
    second = runner.invoke(args=["csa", "demo"])
    assert second.exit_code == 0, second.output
    assert "nothing changed" in second.output
    assert {m: count(db, m) for m in counts} == counts
    assert counts[Season] == 1
    assert counts[ShareType] == 3
    assert counts[PickupSite] == 4
    assert 75 <= counts[Member] <= 85
    weekdays = set(db.session.scalars(select(PickupSite.weekday)))
    assert len(weekdays) == 4
    names = " ".join(db.session.scalars(select(Member.name)))
    assert any(c in names for c in "łńśżą")  # Polish
    assert any("\u0400" <= c <= "\u04ff" for c in names)  # Cyrillic


def test_demo_if_empty_leaves_a_used_database_alone(runner, db, make_user):
    make_user(Role.ADMIN)
    result = runner.invoke(args=["csa", "demo", "--if-empty"])
    assert result.exit_code == 0
    assert "not loaded" in result.output
    assert count(db, Season) == 0


def test_demo_logins_work(runner, client, db):
    runner.invoke(args=["csa", "demo"])
    for email in ("coordinator@demo.farm", "farmer@demo.farm", "member@demo.farm"):
        response = client.post("/auth/login", data={"email": email, "password": DEMO_PASSWORD})
        assert response.status_code == 302, email
        client.post("/auth/logout")
    member_user = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
    assert member_user.member is not None


def test_create_user_command(runner, db):
    result = runner.invoke(
        args=[
            "csa",
            "create-user",
            "Farmer@Example.org",
            "--role",
            "farmer",
            "--password",
            "s3cret-pass",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "farmer@example.org"))
    assert user.role == Role.FARMER
    assert user.check_password("s3cret-pass")
    again = runner.invoke(
        args=["csa", "create-user", "farmer@example.org", "--password", "s3cret-pass"]
    )
    assert again.exit_code != 0
    assert "exists already" in again.output
    short = runner.invoke(args=["csa", "create-user", "x@example.org", "--password", "short"])
    assert short.exit_code != 0
    assert "at least 8" in short.output
    assert count(db, User) == 1
