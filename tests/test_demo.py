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
    assert counts[Season] == 2  # this season and the next (renewals)
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


def test_demo_season_is_under_way(runner, db):
    from csa.models import Allocation, Crop, HarvestEntry, Hold, OptOut, Round, RoundStatus
    from csa.rounds.lifecycle import farm_today

    runner.invoke(args=["csa", "demo"])
    today = farm_today()
    season = db.session.scalar(
        select(Season).order_by(Season.start)
    )  # the demo season, not the next
    assert 60 <= (today - season.start).days <= 80  # began about ten weeks ago
    assert 120 <= (season.end - today).days <= 150  # runs about twenty weeks more
    past = db.session.scalars(select(Round).where(Round.date < today)).all()
    assert past
    assert all(r.status == RoundStatus.DISTRIBUTED for r in past)
    assert count(db, Allocation) > 0
    pumpkins = db.session.scalar(select(Crop).where(Crop.name == "Pumpkins"))
    assert pumpkins.unit == "piece"
    scarce = db.session.scalars(
        select(Allocation.units).where(Allocation.crop_id == pumpkins.id)
    ).all()
    assert scarce
    assert 0 in scarce  # too few pumpkins for everyone in a round: the balance rotates them
    current = db.session.scalar(select(Round).where(Round.date >= today).order_by(Round.date))
    assert current.status == RoundStatus.OPEN
    assert db.session.scalar(
        select(func.count()).select_from(HarvestEntry).where(HarvestEntry.round_id == current.id)
    )
    assert count(db, Hold) > 0
    assert count(db, OptOut) > 0
