"""Recording the harvest: exact quantities, whole-submission validation, corrections with an
audit trail, locked rounds, the live preview and the command line."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import func, select

from csa.errors import ValidationFailed
from csa.harvest import operations as harvest
from csa.harvest.forms import new_token
from csa.models import HarvestAudit, HarvestEntry, Role, RoundStatus
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.lifecycle import create_round, lock_round
from csa.rounds.split import compute_split
from tests.factories import add_member, make_farm

TUESDAY = date(2027, 5, 4)
NEXT_TUESDAY = date(2027, 5, 11)


@pytest.fixture
def farm(db: Any) -> Any:
    farm = make_farm()
    add_member(farm, "Ann Full", farm.full)
    add_member(farm, "Bob Full", farm.full)
    add_member(farm, "Cy Double", farm.full, shares=2)
    add_member(farm, "Di Half", farm.half)
    add_member(farm, "Ed Family", farm.family)
    add_member(farm, "Flo Thursday", farm.full, site=farm.thursday)
    farm.round = create_round(TUESDAY, extra=False)
    farm.next_round = create_round(NEXT_TUESDAY, extra=False)
    db.session.commit()
    return farm


@pytest.fixture
def farmer(make_user: Any, auth: Any) -> Any:
    user = make_user(Role.FARMER)
    auth.login(user.email)
    return user


def counts(db: Any) -> tuple[int, int]:
    entries = db.session.scalar(select(func.count()).select_from(HarvestEntry))
    audits = db.session.scalar(select(func.count()).select_from(HarvestAudit))
    return entries, audits


def form_data(round_id: Any, *lines: tuple[Any, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"round_id": round_id, "submission": new_token()}
    for i, (crop, quantity) in enumerate(lines):
        data[f"lines-{i}-crop"] = crop
        data[f"lines-{i}-quantity"] = quantity
    return data


def test_record_several_lines_stores_exact_quantities(client, db, farm, farmer):
    response = client.post(
        "/harvest/",
        data=form_data(
            farm.round.id,
            (farm.tomatoes.id, "12,5"),
            (farm.pumpkins.id, "3"),
            ("", ""),  # an empty line of the no-JS form is skipped
            (farm.tomatoes.id, "0.05"),
        ),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/harvest/?round_id={farm.round.id}"
    rows = db.session.execute(
        select(HarvestEntry.crop_id, HarvestEntry.quantity_milli, HarvestEntry.recorded_by_id)
        .where(HarvestEntry.round_id == farm.round.id)
        .order_by(HarvestEntry.id)
    ).all()
    assert [tuple(r) for r in rows] == [
        (farm.tomatoes.id, 12500, farmer.id),
        (farm.pumpkins.id, 3000, farmer.id),
        (farm.tomatoes.id, 50, farmer.id),
    ]
    audits = db.session.scalars(select(HarvestAudit).order_by(HarvestAudit.id)).all()
    assert [(a.action, a.before_milli, a.after_milli, a.user_id) for a in audits] == [
        ("create", None, 12500, farmer.id),
        ("create", None, 3000, farmer.id),
        ("create", None, 50, farmer.id),
    ]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Recorded for" in page
    assert "Tomatoes 12.5 kg" in page
    assert "Pumpkins 3 pc" in page


def test_lines_added_by_script_beyond_the_empty_ones_are_recorded(client, db, farm, farmer):
    data = {
        "round_id": farm.round.id,
        "submission": new_token(),
        "lines-0-crop": farm.tomatoes.id,
        "lines-0-quantity": "1",
        "lines-7-crop": farm.pumpkins.id,
        "lines-7-quantity": "2",
    }
    assert client.post("/harvest/", data=data).status_code == 302
    assert counts(db) == (2, 2)


def test_the_form_works_on_a_phone_without_javascript(client, farm, farmer, monkeypatch):
    monkeypatch.setattr(rounds_svc, "farm_today", lambda: date(2027, 5, 5))
    page = client.get("/harvest/").get_data(as_text=True)
    assert page.count('inputmode="decimal"') == 5
    assert 'name="lines-4-quantity"' in page
    assert 'data-unit="kg"' in page
    assert 'data-unit="pc"' in page
    # The default round is the next open one from the farm's today.
    assert f'<option selected value="{farm.next_round.id}">' in page
    assert "harvest.js" in page


@pytest.mark.parametrize(
    ("crop", "quantity", "message"),
    [
        ("tomatoes", "0", "must be more than zero"),
        ("tomatoes", "0,000", "must be more than zero"),
        ("tomatoes", "-2", "must be more than zero"),
        ("tomatoes", "a lot", "is not a quantity"),
        ("tomatoes", "1e3", "is not a quantity"),
        ("tomatoes", "1,2345", "is not a quantity"),
        ("tomatoes", "20000,001", "At most 20,000 kg of Tomatoes"),
        ("pumpkins", "20001", "At most 20,000 pc of Pumpkins"),
        ("tomatoes", "", "Enter the quantity of Tomatoes"),
        ("", "3", "Pick the crop"),
        ("missing", "3", "That crop does not exist"),
        ("inactive", "3", "not grown any more"),
    ],
)
def test_a_bad_line_is_shown_and_nothing_is_written(
    client, db, farm, farmer, crop, quantity, message
):
    if crop == "inactive":
        farm.pumpkins.active = False
        db.session.commit()
    crop_id = {"tomatoes": farm.tomatoes.id, "pumpkins": farm.pumpkins.id, "": ""}.get(
        crop, 99999 if crop == "missing" else farm.pumpkins.id
    )
    before = counts(db)
    response = client.post(
        "/harvest/",
        data=form_data(farm.round.id, (farm.tomatoes.id, "4"), (crop_id, quantity)),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'id="lines-1-quantity-error"' in page  # next to the line that caused it
    assert "Nothing was recorded" in page
    assert counts(db) == before


def test_the_largest_allowed_quantity_is_accepted(client, db, farm, farmer):
    response = client.post("/harvest/", data=form_data(farm.round.id, (farm.tomatoes.id, "20000")))
    assert response.status_code == 302
    assert db.session.scalar(select(HarvestEntry.quantity_milli)) == 20_000_000


def test_no_lines_at_all_is_refused(client, db, farm, farmer):
    response = client.post("/harvest/", data=form_data(farm.round.id, ("", ""), ("", "")))
    assert response.status_code == 400
    assert "Enter at least one crop and its quantity" in response.get_data(as_text=True)
    assert counts(db) == (0, 0)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (None, "That round does not exist"),
        (RoundStatus.LOCKED, "is locked"),
        (RoundStatus.DISTRIBUTED, "is distributed already"),
        (RoundStatus.CANCELLED, "is cancelled"),
    ],
)
def test_a_round_that_cannot_take_harvest_is_refused(client, db, farm, farmer, status, message):
    round_id: Any = 99999
    if status == RoundStatus.LOCKED:
        lock_round(farm.round)
        db.session.commit()
        round_id = farm.round.id
    elif status is not None:
        farm.round.status = status
        db.session.commit()
        round_id = farm.round.id
    before = counts(db)
    response = client.post("/harvest/", data=form_data(round_id, (farm.tomatoes.id, "4")))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert counts(db) == before


def test_all_problems_are_reported_at_once(db, farm, farmer):
    lock_round(farm.round)
    db.session.commit()
    with pytest.raises(harvest.HarvestInvalid) as caught:
        harvest.record_harvest(
            farm.round, [("Tomatoes", "x"), ("Pumpkins", "2"), ("Kale", "1")], None
        )
    exc = caught.value
    assert "is locked" in (exc.round_error or "")
    assert sorted(exc.line_errors) == [0, 2]
    assert len(exc.problems) == 3


def test_the_service_takes_crop_names_in_any_case(db, farm):
    entries = harvest.record_harvest(farm.round, [("tOMATOES", "1,5"), (" pumpkins ", "2")], None)
    db.session.commit()
    assert [(e.crop_id, e.quantity_milli) for e in entries] == [
        (farm.tomatoes.id, 1500),
        (farm.pumpkins.id, 2000),
    ]


def test_a_locked_round_refuses_record_edit_and_remove(client, db, farm, farmer):
    entry = harvest.record_harvest(farm.round, [("Tomatoes", "5")], farmer)[0]
    db.session.commit()
    lock_round(farm.round)
    db.session.commit()
    before = counts(db)
    with pytest.raises(ValidationFailed, match="locked"):
        harvest.record_harvest(farm.round, [("Tomatoes", "1")], farmer)
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="locked"):
        harvest.update_entry(entry, "6", farmer)
    db.session.rollback()
    with pytest.raises(ValidationFailed, match="locked"):
        harvest.delete_entry(entry, farmer)
    db.session.rollback()
    response = client.post(f"/harvest/entry/{entry.id}/edit", data={"quantity": "6"})
    assert response.status_code == 400
    response = client.post(f"/harvest/entry/{entry.id}/remove")
    assert response.status_code == 302
    assert counts(db) == before
    assert db.session.get(HarvestEntry, entry.id).quantity_milli == 5000
    page = client.get(f"/harvest/round/{farm.round.id}").get_data(as_text=True)
    assert "Tomatoes" in page
    assert f"/harvest/entry/{entry.id}/edit" not in page


def test_edit_and_remove_write_audit_rows(client, db, farm, farmer):
    entry = harvest.record_harvest(farm.round, [("Tomatoes", "5")], farmer)[0]
    db.session.commit()
    entry_id = entry.id
    page = client.get(f"/harvest/round/{farm.round.id}").get_data(as_text=True)
    assert f"/harvest/entry/{entry_id}/edit" in page

    response = client.post(f"/harvest/entry/{entry_id}/edit", data={"quantity": "7,25"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/harvest/round/{farm.round.id}"
    assert db.session.get(HarvestEntry, entry_id).quantity_milli == 7250

    response = client.post(f"/harvest/entry/{entry_id}/edit", data={"quantity": "0"})
    assert response.status_code == 400
    assert "must be more than zero" in response.get_data(as_text=True)
    assert db.session.get(HarvestEntry, entry_id).quantity_milli == 7250

    confirm = client.get(f"/harvest/entry/{entry_id}/remove")
    assert confirm.status_code == 200
    assert "Remove Tomatoes 7.25 kg" in confirm.get_data(as_text=True)
    assert db.session.get(HarvestEntry, entry_id) is not None

    response = client.post(f"/harvest/entry/{entry_id}/remove")
    assert response.status_code == 302
    assert db.session.get(HarvestEntry, entry_id) is None

    audits = db.session.scalars(select(HarvestAudit).order_by(HarvestAudit.id)).all()
    assert [(a.action, a.entry_id, a.before_milli, a.after_milli, a.user_id) for a in audits] == [
        ("create", entry_id, None, 5000, farmer.id),
        ("update", entry_id, 5000, 7250, farmer.id),
        ("delete", entry_id, 7250, None, farmer.id),
    ]
    assert all(a.crop_id == farm.tomatoes.id and a.at is not None for a in audits)


def test_an_unchanged_quantity_writes_no_audit_row(db, farm, farmer):
    entry = harvest.record_harvest(farm.round, [("Tomatoes", "5")], farmer)[0]
    harvest.update_entry(entry, "5,000", farmer)
    db.session.commit()
    assert counts(db) == (1, 1)


def test_coordinators_read_the_audit_trail(client, auth, db, make_user, farm):
    farmer = make_user(Role.FARMER)
    entry = harvest.record_harvest(farm.round, [("Tomatoes", "5")], farmer)[0]
    harvest.update_entry(entry, "4", farmer)
    db.session.commit()
    auth.login(farmer.email)
    assert client.get(f"/harvest/round/{farm.round.id}/audit").status_code == 403
    auth.logout()
    coordinator = make_user(Role.COORDINATOR)
    auth.login(coordinator.email)
    response = client.get(f"/harvest/round/{farm.round.id}/audit")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "corrected" in page
    assert "recorded" in page
    assert "5 kg" in page
    assert "4 kg" in page
    assert farmer.name in page
    # Coordinators record and correct too.
    response = client.post("/harvest/", data=form_data(farm.round.id, (farm.pumpkins.id, "1")))
    assert response.status_code == 302


def test_a_member_is_refused_every_harvest_page(client, auth, db, make_user, farm):
    entry = harvest.record_harvest(farm.round, [("Tomatoes", "5")], None)[0]
    db.session.commit()
    member = make_user(Role.MEMBER, member=farm.members[0])
    auth.login(member.email)
    before = counts(db)
    for method, url in [
        ("GET", "/harvest/"),
        ("POST", "/harvest/"),
        ("GET", f"/harvest/preview?round_id={farm.round.id}"),
        ("GET", f"/harvest/round/{farm.round.id}"),
        ("GET", f"/harvest/round/{farm.round.id}/audit"),
        ("POST", f"/harvest/entry/{entry.id}/edit"),
        ("POST", f"/harvest/entry/{entry.id}/remove"),
    ]:
        data = form_data(farm.round.id, (farm.tomatoes.id, "1")) | {"quantity": "1"}
        assert client.open(url, method=method, data=data).status_code == 403, url
    assert counts(db) == before


def test_a_farmer_lands_on_the_harvest_form(client, farmer):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/harvest/"


def _expected(split: Any, crop_id: int) -> dict[str, tuple[int, int]]:
    """Per share type, the lowest and highest quantity of one share, from compute_split."""
    per_type: dict[str, list[int]] = {}
    for share in split.splits[crop_id].shares:
        membership = split.memberships[share.membership_id]
        per_share = round(Fraction(share.quantity, membership.shares))
        per_type.setdefault(membership.share_type.name, []).append(per_share)
    return {name: (min(v), max(v)) for name, v in per_type.items()}


def test_preview_matches_the_split_and_writes_nothing(client, db, farm, farmer):
    harvest.record_harvest(farm.round, [("Tomatoes", "10")], farmer)
    db.session.commit()
    before = counts(db)
    response = client.get(
        "/harvest/preview",
        query_string=form_data(
            farm.round.id,
            (farm.tomatoes.id, "2,35"),
            (farm.pumpkins.id, "7"),
            (farm.pumpkins.id, "oops"),
        ),
    )
    assert response.status_code == 200
    data = response.get_json()
    assert counts(db) == before
    assert data["error"] is None
    assert data["claimants"] == 5  # the Thursday member does not collect on a Tuesday
    assert data["skipped"]
    assert "Line 3" in data["skipped"][0]

    split = compute_split(farm.round, extra={farm.tomatoes.id: 2350, farm.pumpkins.id: 7000})
    by_crop = {c["crop_id"]: c for c in data["crops"]}
    assert set(by_crop) == {farm.tomatoes.id, farm.pumpkins.id}
    tomatoes = by_crop[farm.tomatoes.id]
    assert (tomatoes["recorded_milli"], tomatoes["typed_milli"], tomatoes["total_milli"]) == (
        10000,
        2350,
        12350,
    )
    for crop_id, crop in by_crop.items():
        got = {t["name"]: (t["low_milli"], t["high_milli"]) for t in crop["share_types"]}
        assert got == _expected(split, crop_id)
        assert crop["surplus_milli"] == split.splits[crop_id].surplus
        allocated = sum(s.quantity for s in split.splits[crop_id].shares)
        assert allocated + crop["surplus_milli"] == crop["total_milli"]
    assert [t["name"] for t in by_crop[farm.pumpkins.id]["share_types"]] == [
        "Half",
        "Full",
        "Family",
    ]
    assert "Surplus" in [r["label"] for r in tomatoes["rows"]]

    # The preview is the split the round really gets once the lines are recorded.
    db.session.rollback()
    harvest.record_harvest(farm.round, [("Tomatoes", "2,35"), ("Pumpkins", "7")], farmer)
    recorded = compute_split(farm.round)
    for crop_id in by_crop:
        assert _expected(recorded, crop_id) == _expected(split, crop_id)
    db.session.rollback()


def test_preview_of_a_locked_round_says_so(client, db, farm, farmer):
    lock_round(farm.round)
    db.session.commit()
    response = client.get(f"/harvest/preview?round_id={farm.round.id}")
    assert response.status_code == 200
    assert "is locked" in response.get_json()["error"]
    assert response.get_json()["crops"] == []


def test_cli_lists_active_crops_as_csv(runner, db, farm):
    farm.pumpkins.active = False
    db.session.commit()
    result = runner.invoke(args=["csa", "crops"])
    assert result.exit_code == 0
    assert result.output == "name,unit,step\nTomatoes,kg,0.05\n"


def test_cli_records_a_harvest(runner, db, farm):
    result = runner.invoke(args=["csa", "record-harvest", "2027-05-04", "tomatoes", "12,5"])
    assert result.exit_code == 0, result.output
    assert "12.5 kg of Tomatoes" in result.output
    db.session.expire_all()
    entry = db.session.scalars(select(HarvestEntry)).one()
    assert (entry.round_id, entry.crop_id, entry.quantity_milli) == (
        farm.round.id,
        farm.tomatoes.id,
        12500,
    )
    assert db.session.scalars(select(HarvestAudit)).one().action == "create"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2027-13-01", "tomatoes", "1"], "is not a date"),
        (["2027-05-05", "tomatoes", "1"], "There is no round on 2027-05-05"),
        (["2027-05-04", "kale", "1"], "There is no crop"),
        (["2027-05-04", "tomatoes", "0"], "must be more than zero"),
        (["2027-05-04", "tomatoes", "12kg"], "is not a quantity"),
        (["2027-05-04", "tomatoes", "--", "-1"], "must be more than zero"),
        (["2027-05-04", "tomatoes", "1", "--by", "nobody@example.org"], "no user"),
        (["2027-05-11", "tomatoes", "1"], "is locked"),
    ],
)
def test_cli_refuses_bad_input_and_writes_nothing(runner, db, farm, args, message):
    lock_round(farm.next_round)
    db.session.commit()
    if "--" in args:
        args = ["--", *[a for a in args if a != "--"]]
    before = counts(db)
    result = runner.invoke(args=["csa", "record-harvest", *args])
    assert result.exit_code != 0
    assert message in result.output
    db.session.expire_all()
    assert counts(db) == before
