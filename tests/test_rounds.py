"""The rounds pages: the matrix, totals, lock, reopen, CSV, explanations, and the CLI."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from sqlalchemy import event, func, select

from csa.core.quantity import milli_to_str
from csa.models import (
    Allocation,
    HarvestEntry,
    Role,
    Round,
    RoundAction,
    RoundLog,
    RoundStatus,
)
from csa.rounds.split import CSV_COLUMNS, compute_split, round_split
from csa.rounds.table import build_table
from tests.factories import add_member, make_farm

TUESDAY = date(2027, 5, 4)
NEXT_TUESDAY = date(2027, 5, 11)
WEDNESDAY = date(2027, 5, 5)


def make_round(db, on_date: date = TUESDAY) -> Round:
    round_ = Round(date=on_date, status=RoundStatus.OPEN)
    db.session.add(round_)
    db.session.flush()
    return round_


def harvest(db, round_: Round, crop, milli: int) -> None:
    db.session.add(HarvestEntry(round_id=round_.id, crop_id=crop.id, quantity_milli=milli))
    db.session.flush()


@pytest.fixture
def farm_round(db):
    """Three Tuesday members of different sizes, one Thursday member; a harvested round."""
    farm = make_farm()
    members = [
        add_member(farm, name="Ada Lovelace", share_type=farm.full),
        add_member(farm, name="Bob Brown", share_type=farm.half),
        add_member(farm, name="Cy Young", share_type=farm.family, shares=2),
        add_member(farm, name="Dora Thursday", site=farm.thursday),
    ]
    round_ = make_round(db)
    harvest(db, round_, farm.tomatoes, 10_030)
    harvest(db, round_, farm.pumpkins, 7_000)
    db.session.commit()
    return farm, members, round_


@pytest.fixture
def coordinator(make_user, auth):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def row_cells(html: str, name: str) -> list[str]:
    """The numeric cells of the matrix row that names a member."""
    for chunk in html.split("<tr")[1:]:
        if f">{name}</a>" in chunk:
            return re.findall(r'<td class="num[^"]*"[^>]*>([^<]*)</td>', chunk)
    raise AssertionError(f"no row for {name}")


def test_round_page_shows_the_split(app, client, db, farm_round, coordinator):
    farm, members, round_ = farm_round
    split = compute_split(round_)
    page = client.get("/rounds/2027-05-04")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    crops = split.crop_list
    assert [c.name for c in crops] == ["Pumpkins", "Tomatoes"]
    for membership in members[:3]:
        expected = [milli_to_str(split.cell(membership.id, c.id).quantity) for c in crops]
        assert row_cells(html, membership.member.name) == expected
    assert "Dora Thursday" not in html  # the Thursday site is not served on a Tuesday
    assert "Old Mill" in html
    assert "10.03 kg" in html  # the harvested line


def test_totals_equal_the_cells_and_conserve_the_harvest(app, db, farm_round):
    farm, members, round_ = farm_round
    split = compute_split(round_)
    table = build_table(split)
    for i, crop in enumerate(table.crops):
        cells = [split.cell(m.id, crop.id) for m in members[:3]]
        total = sum(c.quantity for c in cells if c)
        assert sum(g.totals[i] for g in table.groups) == total
        assert sum(t.totals[i] for t in table.by_type) == total
        assert table.allocated[i] == total
        assert table.allocated[i] + table.surplus[i] == table.harvested[i]
    assert {t.share_type.name: t.shares for t in table.by_type} == {
        "Full": 1,
        "Half": 1,
        "Family": 2,
    }


def test_lock_stores_allocations_and_freezes_the_page(app, client, db, farm_round, coordinator):
    farm, members, round_ = farm_round
    split = compute_split(round_)
    expected_rows = sum(len(s.shares) for s in split.splits.values())

    refused = client.post("/rounds/2027-05-04/lock", data={})
    assert refused.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0

    response = client.post("/rounds/2027-05-04/lock", data={"confirm": "y"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/rounds/2027-05-04")
    db.session.expire_all()
    assert db.session.get(Round, round_.id).status == RoundStatus.LOCKED
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == expected_rows
    before = client.get("/rounds/2027-05-04").get_data(as_text=True)
    assert "Lock this round" not in before

    harvest(db, round_, farm.tomatoes, 5_000)
    add_member(farm, name="Eve Latecomer")
    members[1].share_type = farm.family
    db.session.commit()

    after = client.get("/rounds/2027-05-04").get_data(as_text=True)
    assert "Eve Latecomer" not in after
    for membership in members[:3]:
        name = membership.member.name
        assert row_cells(after, name) == row_cells(before, name)
    assert "10.03 kg" in after


def test_reopen_drops_the_stored_split_and_is_audited(app, client, db, farm_round, coordinator):
    farm, members, round_ = farm_round
    client.post("/rounds/2027-05-04/lock", data={"confirm": "y"})
    page = client.get("/rounds/2027-05-04").get_data(as_text=True)
    reopen_form = page[page.index('action="/rounds/2027-05-04/reopen"') :].split("</form>")[0]
    assert 'name="reason"' in reopen_form
    assert 'name="confirm"' in reopen_form  # the same form as the calendar's: a ticked box

    client.post("/rounds/2027-05-04/reopen", data={"reason": "", "confirm": "y"})
    client.post("/rounds/2027-05-04/reopen", data={"reason": "Forgot the beans"})  # no tick
    db.session.expire_all()
    assert db.session.get(Round, round_.id).status == RoundStatus.LOCKED

    response = client.post(
        "/rounds/2027-05-04/reopen", data={"reason": "Forgot the beans", "confirm": "y"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/rounds/2027-05-04")
    db.session.expire_all()
    assert db.session.get(Round, round_.id).status == RoundStatus.OPEN
    assert db.session.scalar(select(func.count()).select_from(Allocation)) == 0
    audit = db.session.scalar(select(RoundLog).where(RoundLog.action == RoundAction.REOPEN))
    assert audit is not None
    assert audit.user_id == coordinator.id
    assert audit.note == "Forgot the beans"
    lock = db.session.scalar(select(RoundLog).where(RoundLog.action == RoundAction.LOCK))
    assert lock.user_id == coordinator.id


def test_farmer_views_rounds_but_cannot_lock(app, client, db, farm_round, make_user, auth):
    farmer = make_user(Role.FARMER)
    auth.login(farmer.email)
    assert client.get("/rounds/").status_code == 200
    page = client.get("/rounds/2027-05-04")
    assert page.status_code == 200
    assert "Lock this round" not in page.get_data(as_text=True)
    assert client.post("/rounds/2027-05-04/lock", data={"confirm": "y"}).status_code == 403
    assert client.get("/rounds/2027-05-04/export.csv").status_code == 403


def test_unknown_or_malformed_round_is_404(app, client, db, farm_round, coordinator):
    assert client.get("/rounds/2027-05-05").status_code == 404
    assert client.get("/rounds/not-a-date").status_code == 404
    assert client.get("/rounds/2027-05-05/export.csv").status_code == 404


def test_csv_has_the_header_and_one_row_per_cell(app, client, db, farm_round, coordinator):
    farm, members, round_ = farm_round
    coordinator.locale = "pl"  # decimals stay dots in the file, whatever the language
    db.session.commit()
    split = compute_split(round_)
    response = client.get("/rounds/2027-05-04/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == (
        "round_date,site,member,email,share_type,shares,crop,quantity,unit"
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0].keys()) == CSV_COLUMNS
    cells = [s for cs in split.splits.values() for s in cs.shares if s.quantity > 0]
    assert len(rows) == len(cells)
    assert {(r["member"], r["crop"]) for r in rows} == {
        (split.memberships[s.membership_id].member.name, split.crops[s.crop_id].name) for s in cells
    }
    tomatoes = [r["quantity"] for r in rows if r["crop"] == "Tomatoes"]
    assert any("." in q for q in tomatoes)
    assert not any("," in q for q in tomatoes)


def test_explain_shows_entitlement_balance_and_rounding(app, client, db, farm_round, coordinator):
    farm, members, round_ = farm_round
    client.post("/rounds/2027-05-04/lock", data={"confirm": "y"})
    second = make_round(db, NEXT_TUESDAY)
    harvest(db, second, farm.pumpkins, 5_000)
    db.session.commit()
    split = compute_split(second)
    ada = members[0]
    share = split.cell(ada.id, farm.pumpkins.id)
    assert share.balance_in != 0  # carried from the first round

    page = client.get(f"/rounds/2027-05-11/explain/{ada.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Fair share this round" in html
    assert "Balance carried in" in html
    assert "Rounding" in html
    entitled = round(share.entitlement * farm.pumpkins.step_milli)
    assert milli_to_str(entitled) in html
    assert f"{milli_to_str(share.quantity)} pc" in html
    # the matrix cell carries the same explanation in its title
    matrix = client.get("/rounds/2027-05-11").get_data(as_text=True)
    assert "Balance carried in:" in matrix

    assert client.get("/rounds/2027-05-11/explain/999").status_code == 404
    dora = members[3]  # Thursday: no part in a Tuesday round
    assert client.get(f"/rounds/2027-05-11/explain/{dora.id}").status_code == 404


def test_members_on_hold_are_listed(app, client, db, farm_round, coordinator):
    from csa.models import Hold, HoldMode

    farm, members, round_ = farm_round
    db.session.add(Hold(membership_id=members[0].id, round_date=TUESDAY, mode=HoldMode.DONATE))
    db.session.add(Hold(membership_id=members[1].id, round_date=TUESDAY, mode=HoldMode.OTHERS))
    db.session.commit()
    html = client.get("/rounds/2027-05-04").get_data(as_text=True)
    assert "on hold, donated" in html
    assert "on hold, given to the others" in html
    client.post("/rounds/2027-05-04/lock", data={"confirm": "y"})
    html = client.get("/rounds/2027-05-04").get_data(as_text=True)
    assert "Bob Brown" in html  # still listed once locked, though it has no allocation
    assert "on hold, given to the others" in html


def test_index_lists_rounds_and_adds_one(app, client, db, farm_round, coordinator):
    page = client.get("/rounds/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Old Mill" in html
    assert "yes" in html

    response = client.post("/rounds/add", data={"date": "2027-05-11"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/rounds/2027-05-11")
    added = db.session.scalar(select(Round).where(Round.date == NEXT_TUESDAY))
    assert added is not None
    assert added.extra
    logged = db.session.scalars(select(RoundLog)).one()
    assert (logged.round_id, logged.action, logged.user_id) == (
        added.id,
        RoundAction.EXTRA,
        coordinator.id,
    )

    refused = client.post("/rounds/add", data={"date": "2027-05-05"})
    assert refused.status_code == 400
    assert "No active pickup site serves" in refused.get_data(as_text=True)
    assert db.session.scalar(select(Round).where(Round.date == WEDNESDAY)) is None

    # The same endpoint the calendar posts to: past dates are refused here too.
    past = client.post("/rounds/add", data={"date": "2020-01-07"})
    assert past.status_code == 400
    assert "is in the past" in past.get_data(as_text=True)
    assert db.session.scalar(select(Round).where(Round.date == date(2020, 1, 7))) is None
    assert db.session.scalar(select(func.count()).select_from(RoundLog)) == 1


def test_add_round_goes_back_only_to_a_local_page(app, client, db, farm_round, coordinator):
    response = client.post(
        "/rounds/add?next=https://evil.example.org/", data={"date": "2027-05-11"}
    )
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"]
    assert response.headers["Location"].endswith("/rounds/2027-05-11")
    refused = client.post("/rounds/add?next=//evil.example.org/", data={"date": "2027-05-05"})
    assert refused.status_code == 400  # no safe page to go back to: the rounds page again


def test_round_page_queries_do_not_grow_with_members(app, client, db, farm_round, coordinator):
    farm, members, round_ = farm_round

    def count_queries() -> int:
        seen: list[str] = []
        db.session.expire_all()  # every count starts from the same cold session

        def listener(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/rounds/2027-05-04").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    few = count_queries()
    for _ in range(30):
        add_member(farm)
    db.session.commit()
    many = count_queries()
    assert many == few
    assert few < 25
    client.post("/rounds/2027-05-04/lock", data={"confirm": "y"})
    assert count_queries() < 25


# --- CLI ---------------------------------------------------------------------------------


def test_cli_add_round(app, db, runner):
    make_farm()
    db.session.commit()
    result = runner.invoke(args=["csa", "add-round", "2027-05-04"])
    assert result.exit_code == 0, result.output
    assert "2027-05-04" in result.output
    added = db.session.scalar(select(Round).where(Round.date == TUESDAY))
    assert added is not None
    logged = db.session.scalars(select(RoundLog)).one()
    assert (logged.round_id, logged.action, logged.user_id) == (added.id, RoundAction.EXTRA, None)


def test_cli_add_round_refuses_a_past_date(app, db, runner):
    make_farm(start=date(2020, 1, 1), end=date(2020, 12, 31))
    db.session.commit()
    result = runner.invoke(args=["csa", "add-round", "2020-01-07"])  # a Tuesday, long past
    assert result.exit_code != 0
    assert "is in the past" in result.output
    assert db.session.scalar(select(func.count()).select_from(Round)) == 0


def test_cli_add_round_refuses_a_day_no_site_serves(app, db, runner):
    make_farm()
    db.session.commit()
    result = runner.invoke(args=["csa", "add-round", "2027-05-05"])
    assert result.exit_code != 0
    assert "No active pickup site serves" in result.output
    assert db.session.scalar(select(func.count()).select_from(Round)) == 0

    bad = runner.invoke(args=["csa", "add-round", "5/5/2027"])
    assert bad.exit_code != 0
    assert "YYYY-MM-DD" in bad.output


def test_cli_lock_round(app, db, runner, farm_round):
    farm, members, round_ = farm_round
    result = runner.invoke(args=["csa", "lock-round", "2027-05-04"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Round, round_.id).status == RoundStatus.LOCKED
    assert db.session.scalar(select(func.count()).select_from(Allocation)) > 0
    again = runner.invoke(args=["csa", "lock-round", "2027-05-04"])
    assert again.exit_code == 0
    assert "already" in again.output

    missing = runner.invoke(args=["csa", "lock-round", "2027-05-05"])
    assert missing.exit_code != 0
    assert "no round" in missing.output


def test_cli_export_round(app, db, runner, farm_round):
    farm, members, round_ = farm_round
    result = runner.invoke(args=["csa", "export-round", "2027-05-04"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    split = round_split(round_)
    assert len(lines) - 1 == sum(
        1 for cs in split.splits.values() for s in cs.shares if s.quantity > 0
    )
    assert any(line.startswith("2027-05-04,Old Mill,Ada Lovelace,") for line in lines)

    missing = runner.invoke(args=["csa", "export-round", "2027-05-05"])
    assert missing.exit_code != 0


@pytest.mark.parametrize("locale", ["en", "pl", "de"])
def test_cell_text_formats_like_format_quantity(app, locale):
    from flask_babel import force_locale

    from csa.rounds.table import CellText
    from csa.ui.formatting import format_quantity

    with app.test_request_context(), force_locale(locale):
        text = CellText()
        for milli in (0, 50, 1_000, 12_500, 999_999, 1_234_500, 12_345_678, -2_500):
            assert text.number(milli) == format_quantity(milli)
            assert text.quantity(milli, "kg") == format_quantity(milli, "kg")
