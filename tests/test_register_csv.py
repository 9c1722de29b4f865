"""CSV import and export of the register, through the web and the command line."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from csa.errors import ValidationFailed
from csa.models import Member, Membership, MembershipStatus, Role, Season
from csa.register import csv_io as register_csv
from tests.factories import add_member, make_farm

HEADER = "name,email,phone,share_type,shares,site,season,start,end"
GOOD = f"""{HEADER}
Anna Nowak,anna@example.org,600 100 200,Full,1,Old Mill,Season 2027,,
Piotr Zieliński,PIOTR@Example.org ,,half,2,town hall,season 2027,2027-06-01,2027-09-30
"""


@pytest.fixture
def farm(db):
    farm = make_farm()
    db.session.commit()
    return farm


@pytest.fixture
def coordinator(client, auth, make_user):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def upload(client, data: bytes | str, filename: str = "members.csv"):
    raw = data.encode() if isinstance(data, str) else data
    return client.post(
        "/register/import",
        data={"file": (io.BytesIO(raw), filename)},
        content_type="multipart/form-data",
    )


def memberships_by_email(db) -> dict[str, Membership]:
    rows = db.session.scalars(select(Membership).join(Membership.member)).all()
    return {m.member.email: m for m in rows}


# --- importing ---------------------------------------------------------------------------


def test_web_import_creates_members_and_memberships(client, coordinator, farm, db):
    assert client.get("/register/import").status_code == 200
    response = upload(client, GOOD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/"
    page = client.get("/register/").get_data(as_text=True)
    assert (
        "Rows read: 2. Members created: 2, updated: 0. Memberships created: 2, updated: 0." in page
    )
    found = memberships_by_email(db)
    assert sorted(found) == ["anna@example.org", "piotr@example.org"]
    anna, piotr = found["anna@example.org"], found["piotr@example.org"]
    assert (anna.member.name, anna.member.phone) == ("Anna Nowak", "600 100 200")
    assert (anna.share_type_id, anna.shares, anna.site_id) == (farm.full.id, 1, farm.tuesday.id)
    assert (anna.start, anna.end) == (farm.season.start, farm.season.end)
    assert anna.status == MembershipStatus.ACTIVE
    assert piotr.member.name == "Piotr Zieliński"
    assert (piotr.share_type_id, piotr.shares, piotr.site_id) == (farm.half.id, 2, farm.thursday.id)
    assert (piotr.start, piotr.end) == (date(2027, 6, 1), date(2027, 9, 30))


def test_importing_twice_makes_no_duplicates_and_updates_changed_fields(app, db, farm):
    first = register_csv.import_members(GOOD.encode())
    db.session.commit()
    assert (first.members_created, first.memberships_created) == (2, 2)

    again = register_csv.import_members(GOOD.encode())
    db.session.commit()
    assert (again.members_created, again.members_updated) == (0, 0)
    assert (again.memberships_created, again.memberships_updated) == (0, 0)
    assert (count(db, Member), count(db, Membership)) == (2, 2)

    changed = f"""{HEADER}
Anna Nowak-Kowalska,anna@example.org,700 000 000,Family,3,Town Hall,Season 2027,2027-07-01,
Piotr Zieliński,piotr@example.org,,Half,2,Town Hall,Season 2027,2027-06-01,2027-09-30
"""
    summary = register_csv.import_members(changed.encode())
    db.session.commit()
    assert (summary.members_created, summary.members_updated) == (0, 1)
    assert (summary.memberships_created, summary.memberships_updated) == (0, 1)
    assert (count(db, Member), count(db, Membership)) == (2, 2)
    anna = memberships_by_email(db)["anna@example.org"]
    db.session.refresh(anna)
    db.session.refresh(anna.member)
    assert (anna.member.name, anna.member.phone) == ("Anna Nowak-Kowalska", "700 000 000")
    assert (anna.share_type_id, anna.shares, anna.site_id) == (farm.family.id, 3, farm.thursday.id)
    assert (anna.start, anna.end) == (date(2027, 7, 1), farm.season.end)


def test_import_matches_members_already_in_the_register(app, db, farm):
    existing = add_member(farm, name="Anna Nowak", email="anna@example.org")
    existing.member.phone = "111"
    existing.status = MembershipStatus.PAUSED
    db.session.commit()
    summary = register_csv.import_members(
        f"{HEADER}\nAnna Nowak,  ANNA@example.org,,Half,1,Old Mill,Season 2027,,\n".encode()
    )
    db.session.commit()
    assert (summary.members_created, summary.members_updated) == (0, 0)
    assert summary.memberships_updated == 1
    assert count(db, Member) == 1
    db.session.refresh(existing)
    # An empty phone keeps the one on record; the status is the coordinator's, not the file's.
    assert existing.member.phone == "111"
    assert existing.share_type_id == farm.half.id
    assert existing.status == MembershipStatus.PAUSED


def test_one_membership_per_season_for_the_same_member(app, db, farm):
    next_season = Season(name="Season 2028", start=date(2028, 5, 1), end=date(2028, 11, 30))
    db.session.add(next_season)
    db.session.commit()
    summary = register_csv.import_members(
        (
            f"{HEADER}\n"
            "Anna Nowak,anna@example.org,,Full,1,Old Mill,Season 2027,,\n"
            "Anna Nowak,anna@example.org,,Half,1,Old Mill,Season 2028,,\n"
        ).encode()
    )
    db.session.commit()
    assert (summary.members_created, summary.memberships_created) == (1, 2)
    assert count(db, Member) == 1


BAD = f"""{HEADER}
Anna Nowak,anna@example.org,,Full,1,Old Mill,Season 2027,,
,bea@example.org,,Full,1,Old Mill,Season 2027,,
Cyl,not-an-email,,Full,1,Old Mill,Season 2027,,
Dora,dora@example.org,,Jumbo,1,Old Mill,Season 2027,,
Emil,emil@example.org,,Full,0,Nowhere,Season 2027,,

Fay,fay@example.org,,Full,1,Old Mill,Season 1999,,
Gus,gus@example.org,,Full,two,Old Mill,Season 2027,01.06.2027,
Hal,hal@example.org,,Full,1,Old Mill,Season 2027,2027-09-01,2027-08-01
Ida,ida@example.org,,Full,1,Old Mill,Season 2027,2027-04-01,
Anna N.,ANNA@example.org,,Half,1,Town Hall,Season 2027,,
"""

BAD_PROBLEMS = [
    "Line 3: name is empty.",
    "Line 4: not-an-email is not an e-mail address.",
    "Line 5: no share type is called Jumbo.",
    "Line 6: no pickup site is called Nowhere.",
    "Line 6: shares must be a whole number from 1 to 999, not 0.",
    "Line 8: no season is called Season 1999.",
    "Line 9: shares must be a whole number from 1 to 999, not two.",
    "Line 9: start must be a date like 2027-05-31, not 01.06.2027.",
    "Line 10: start 2027-09-01 is after end 2027-08-01.",
    "Line 11: the dates must lie within the season Season 2027 (2027-05-01 to 2027-11-30).",
    "Line 12: anna@example.org appears for season Season 2027 already on line 2.",
]


def test_a_bad_row_imports_nothing_and_every_problem_is_listed(app, db, farm):
    with pytest.raises(ValidationFailed) as caught:
        register_csv.import_members(BAD.encode())
    assert str(caught.value) == "9 lines have problems; nothing was imported."
    assert caught.value.problems == BAD_PROBLEMS
    db.session.rollback()
    assert (count(db, Member), count(db, Membership)) == (0, 0)


def test_web_import_with_bad_rows_writes_nothing_and_shows_lines(client, coordinator, farm, db):
    response = upload(client, BAD)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "9 lines have problems; nothing was imported." in html
    for problem in BAD_PROBLEMS:
        escaped = problem.replace("&", "&amp;")
        assert f'<li class="error">{escaped}</li>' in html, problem
    assert (count(db, Member), count(db, Membership)) == (0, 0)


def test_missing_headers_give_one_clear_message(client, coordinator, farm, db):
    response = upload(client, "name;mail;site\nAnna;anna@example.org;Old Mill\n")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert (
        "The first line must name the columns; missing: email, share_type, shares, season. "
        "Expected: name,email,phone,share_type,shares,site,season,start,end."
    ) in html
    assert html.count('<li class="error">') == 1
    assert count(db, Member) == 0


def test_semicolons_bom_extra_columns_and_any_order(app, db, farm):
    text = (
        "Season;E-mail note;SITE;email;name;share_type;shares\r\n"
        "Season 2027;ignored;Old Mill;zofia@example.org;Zofia Żółć;Full;1\r\n"
        '"Season 2027";"x; y";Town Hall;jan@example.org;"Jan ""Johnny"" Kos";Half;2\r\n'
    )
    summary = register_csv.import_members(text.encode("utf-8-sig"))
    db.session.commit()
    assert (summary.members_created, summary.memberships_created) == (2, 2)
    found = memberships_by_email(db)
    assert found["zofia@example.org"].member.name == "Zofia Żółć"
    assert found["jan@example.org"].member.name == 'Jan "Johnny" Kos'
    assert found["jan@example.org"].site_id == farm.thursday.id


def test_web_import_accepts_an_excel_bom_and_semicolons(client, coordinator, farm, db):
    row = "Łukasz Wójcik;lukasz@example.org;;Full;1;Old Mill;Season 2027;;"
    text = f"{HEADER.replace(',', ';')}\r\n{row}\r\n"
    response = upload(client, text.encode("utf-8-sig"))
    assert response.status_code == 302
    member = db.session.scalar(select(Member).where(Member.email == "lukasz@example.org"))
    assert member.name == "Łukasz Wójcik"


def test_a_file_that_is_not_utf8_is_refused(client, coordinator, farm, db):
    text = f"{HEADER}\nŁukasz,l@example.org,,Full,1,Old Mill,Season 2027,,\n"
    response = upload(client, text.encode("cp1250"))
    assert response.status_code == 400
    assert "The file is not UTF-8 text." in response.get_data(as_text=True)
    assert count(db, Member) == 0


def test_line_numbers_count_quoted_line_breaks(app, db, farm):
    text = (
        f"{HEADER}\n"
        'Anna,anna@example.org,"600\n100",Full,1,Old Mill,Season 2027,,\n'
        "Bea,bea@,,Full,1,Old Mill,Season 2027,,\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        register_csv.import_members(text.encode())
    assert caught.value.problems == ["Line 4: bea@ is not an e-mail address."]


def test_upload_without_a_file_is_refused(client, coordinator, farm):
    response = client.post("/register/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)


# --- command line ------------------------------------------------------------------------


def test_cli_import(runner, db, farm, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(GOOD, encoding="utf-8")
    result = runner.invoke(args=["csa", "import-members", str(path)])
    assert result.exit_code == 0, result.output
    assert "Members created: 2, updated: 0. Memberships created: 2, updated: 0." in result.output
    db.session.expire_all()
    assert (count(db, Member), count(db, Membership)) == (2, 2)


def test_cli_import_with_bad_rows_exits_nonzero_and_writes_nothing(runner, db, farm, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    result = runner.invoke(args=["csa", "import-members", str(path)])
    assert result.exit_code == 1
    assert "9 lines have problems; nothing was imported." in result.stderr
    for problem in BAD_PROBLEMS:
        assert problem in result.stderr
    db.session.expire_all()
    assert (count(db, Member), count(db, Membership)) == (0, 0)


def test_cli_import_with_missing_headers(runner, db, farm, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,email\nAnna,anna@example.org\n", encoding="utf-8")
    result = runner.invoke(args=["csa", "import-members", str(path)])
    assert result.exit_code == 1
    assert "missing: share_type, shares, site, season" in result.stderr
    assert count(db, Member) == 0


# --- exporting ---------------------------------------------------------------------------


def test_cli_export_round_trips_through_import(runner, db, farm):
    tricky = add_member(farm, name='=HYPERLINK("http://evil")', email="evil@example.org")
    tricky.member.phone = "+48 600 100 200"
    quoted = add_member(farm, name='Jan "Johnny", Kos', share_type=farm.half, shares=2)
    quoted.start = date(2027, 6, 1)
    add_member(farm, name="Zofia Żółć", site=farm.thursday)
    db.session.commit()

    result = runner.invoke(args=["csa", "export-members"])
    assert result.exit_code == 0, result.output
    exported = result.stdout
    lines = exported.splitlines()
    assert lines[0] == HEADER
    assert len(lines) == 4
    # A formula-like cell is defused for spreadsheets; a phone number is left alone.
    assert "'=HYPERLINK" in exported
    assert "+48 600 100 200" in exported

    # Re-importing the export changes nothing ...
    same = register_csv.import_members(exported.encode())
    db.session.commit()
    assert (same.members_created, same.members_updated) == (0, 0)
    assert (same.memberships_created, same.memberships_updated) == (0, 0)

    # ... and restores what was changed since.
    db.session.refresh(quoted)
    quoted.shares = 5
    quoted.member.name = "Someone Else"
    db.session.commit()
    restore = register_csv.import_members(exported.encode())
    db.session.commit()
    assert (restore.members_updated, restore.memberships_updated) == (1, 1)
    db.session.refresh(quoted)
    db.session.refresh(tricky)
    assert (quoted.member.name, quoted.shares) == ('Jan "Johnny", Kos', 2)
    assert quoted.start == date(2027, 6, 1)
    assert tricky.member.name == '=HYPERLINK("http://evil")'
    assert tricky.member.phone == "+48 600 100 200"


def test_cli_export_of_one_season(runner, db, farm):
    add_member(farm, name="Anna This Season")
    other = Season(name="Season 2026", start=date(2026, 5, 1), end=date(2026, 11, 30))
    db.session.add(other)
    old = add_member(farm, name="Bea Last Season")
    old.season, old.start, old.end = other, other.start, other.end
    db.session.commit()
    result = runner.invoke(args=["csa", "export-members", "--season", "season 2026"])
    assert result.exit_code == 0, result.output
    assert "Bea Last Season" in result.stdout
    assert "Anna This Season" not in result.stdout
    everything = runner.invoke(args=["csa", "export-members"]).stdout
    assert "Bea Last Season" in everything
    assert "Anna This Season" in everything
    unknown = runner.invoke(args=["csa", "export-members", "--season", "Season 1999"])
    assert unknown.exit_code == 1
    assert "No season is called Season 1999." in unknown.stderr


def test_web_export_respects_the_filters(client, coordinator, db, farm):
    add_member(farm, name="Anna Tue", email="anna@example.org")
    add_member(farm, name="Bea Thu", email="bea@example.org", site=farm.thursday)
    add_member(farm, name="Cyl Thu Ended", site=farm.thursday, status=MembershipStatus.ENDED)
    db.session.commit()
    response = client.get(f"/register/export.csv?site={farm.thursday.id}&status=active")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    text = raw.decode("utf-8-sig")
    assert text.splitlines() == [
        HEADER,
        "Bea Thu,bea@example.org,,Full,1,Town Hall,Season 2027,2027-05-01,2027-11-30",
    ]
    # The list page links to the export with the same filters.
    page = client.get(f"/register/?site={farm.thursday.id}&status=active").get_data(as_text=True)
    assert f"/register/export.csv?site={farm.thursday.id}&amp;status=active" in page


def test_web_export_imports_back_with_the_bom(client, coordinator, db, farm):
    add_member(farm, name="Łucja Wiśniewska", email="lucja@example.org")
    db.session.commit()
    exported = client.get("/register/export.csv").data
    response = upload(client, exported)
    assert response.status_code == 302
    page = client.get("/register/").get_data(as_text=True)
    assert "Members created: 0, updated: 0. Memberships created: 0, updated: 0." in page
    assert count(db, Member) == 1


def test_import_into_a_full_site_puts_newcomers_on_the_waiting_list(app, db, farm):
    for _ in range(farm.thursday.capacity - 1):
        add_member(farm, site=farm.thursday)
    db.session.commit()
    rows = "".join(
        f"Person {i},p{i}@example.org,,Full,1,Town Hall,Season 2027,,\n" for i in range(3)
    )
    summary = register_csv.import_members(f"{HEADER}\n{rows}".encode())
    db.session.commit()
    assert summary.waiting == 2
    assert "waiting list" in summary.message()
    statuses = {
        email: m.status for email, m in memberships_by_email(db).items() if email.startswith("p")
    }
    assert sorted(statuses.values()) == [
        MembershipStatus.ACTIVE,
        MembershipStatus.WAITING,
        MembershipStatus.WAITING,
    ]
