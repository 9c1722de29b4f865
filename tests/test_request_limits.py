"""Unbounded requests do not tie up a worker: bodies, form fields and parts are bounded
before a view reads them (413 with a clear page), a harvest form takes at most
MAX_HARVEST_LINES lines and a register import at most MAX_IMPORT_ROWS rows (a message,
nothing written)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from csa.harvest.forms import new_token
from csa.models import HarvestEntry, Member, Role
from csa.rounds.lifecycle import create_round
from tests.factories import add_member, make_farm

TOO_MUCH = "Too much at once"


@pytest.fixture
def farm(db):
    farm = make_farm()
    farm.membership = add_member(farm, "Ann Member")
    farm.round = create_round(date(2027, 5, 4), extra=False)
    db.session.commit()
    return farm


def _login(make_user, auth, role):
    user = make_user(role)
    auth.login(user.email)
    return user


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def harvest_form(farm, lines: int) -> dict:
    data = {"round_id": farm.round.id, "submission": new_token()}
    for i in range(lines):
        data[f"lines-{i}-crop"] = farm.tomatoes.id
        data[f"lines-{i}-quantity"] = "1"
    return data


def test_a_3000_line_harvest_form_is_refused_with_a_message(app, client, auth, make_user, farm, db):
    _login(make_user, auth, Role.FARMER)
    response = client.post("/harvest/", data=harvest_form(farm, 3000))
    assert response.status_code == 400
    assert "At most 100 lines in one form; nothing was recorded." in response.get_data(as_text=True)
    assert count(db, HarvestEntry) == 0


def test_the_most_lines_allowed_are_recorded(app, client, auth, make_user, farm, db):
    _login(make_user, auth, Role.FARMER)
    limit = app.config["MAX_HARVEST_LINES"]
    assert client.post("/harvest/", data=harvest_form(farm, limit)).status_code == 302
    assert count(db, HarvestEntry) == limit
    assert client.post("/harvest/", data=harvest_form(farm, limit + 1)).status_code == 400
    assert count(db, HarvestEntry) == limit


def test_the_preview_of_too_many_lines_says_so(client, auth, make_user, farm):
    _login(make_user, auth, Role.FARMER)
    response = client.get("/harvest/preview", query_string=harvest_form(farm, 101))
    assert response.status_code == 200
    assert "At most 100 lines" in response.get_json()["error"]


def test_a_form_body_past_its_bound_is_413(app, client, auth, make_user, farm, db):
    _login(make_user, auth, Role.COORDINATOR)
    member = farm.membership.member
    response = client.post(
        f"/register/members/{member.id}",
        data={
            "name": "Ann",
            "email": member.email,
            "locale": "en",
            "notes": "x" * (app.config["MAX_FORM_BYTES"] + 1),
        },
    )
    assert response.status_code == 413
    assert TOO_MUCH in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, member.id).name == "Ann Member"


def test_a_multipart_form_is_bounded_by_field_size_and_parts(app, client, auth, make_user, farm):
    _login(make_user, auth, Role.COORDINATOR)
    big_field = client.post(
        "/register/import",
        data={
            "file": (io.BytesIO(b"name,email\n"), "m.csv"),
            "note": "x" * (app.config["MAX_FORM_MEMORY_SIZE"] + 1),
        },
        content_type="multipart/form-data",
    )
    assert big_field.status_code == 413
    many_parts = {f"f{i}": "1" for i in range(app.config["MAX_FORM_PARTS"] + 1)}
    many_parts["file"] = (io.BytesIO(b"name,email\n"), "m.csv")
    response = client.post("/register/import", data=many_parts, content_type="multipart/form-data")
    assert response.status_code == 413
    assert TOO_MUCH in response.get_data(as_text=True)


def test_an_upload_past_the_content_length_is_413(app, client, auth, make_user, farm, db):
    _login(make_user, auth, Role.COORDINATOR)
    members = count(db, Member)
    # A raw body (the test client would spool a file this size to a temporary file).
    body = b"--b\r\n" + b"a" * app.config["MAX_CONTENT_LENGTH"]
    response = client.post(
        "/register/import", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 413
    assert count(db, Member) == members


def test_an_import_past_the_row_limit_imports_nothing(app, client, auth, make_user, farm, db):
    _login(make_user, auth, Role.COORDINATOR)
    app.config["MAX_IMPORT_ROWS"] = 3
    header = "name,email,phone,share_type,shares,site,season,start,end\n"
    rows = "".join(
        f"Member {i},m{i}@example.org,,Full,1,Old Mill,Season 2027,,\n" for i in range(4)
    )
    members = count(db, Member)
    response = client.post(
        "/register/import",
        data={"file": (io.BytesIO((header + rows).encode()), "m.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "The file has more than 3 rows; nothing was imported." in response.get_data(as_text=True)
    assert count(db, Member) == members
    ok = header + rows.split("\n", 1)[1]  # three rows
    response = client.post(
        "/register/import",
        data={"file": (io.BytesIO(ok.encode()), "m.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert count(db, Member) == members + 3
