"""Bad input from a person or a file gets a clear message and writes nothing, never a 500:
integers past what a column holds in URLs and forms, far dates, digits of other scripts, NUL
and control characters (PostgreSQL cannot store NUL at all), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from csa.core.bounds import INT4_MAX
from csa.harvest.forms import new_token
from csa.models import Crop, HarvestEntry, Member, PickupSite, Role, Round, RoundStatus, Season
from tests.factories import add_member, make_farm

HUGE = [str(2**63), str(2**64 + 7), str(INT4_MAX + 1), "9" * 400]


@pytest.fixture
def farm(db):
    farm = make_farm()
    farm.membership = add_member(farm, "Ann Member")
    db.session.add(Round(date=date(2027, 5, 4), status=RoundStatus.OPEN))
    db.session.commit()
    return farm


def _login(make_user, auth, role, member=None):
    user = make_user(role, member=member)
    auth.login(user.email)
    return user


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _int_urls(app, value: str) -> list[tuple[str, str]]:
    """Every route with an <int:...> part, that part set to `value`, with each method."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        url = re.sub(r"<int:\w+>", value, rule.rule)
        url = re.sub(r"<(?:\w+:)?date>", "2027-05-04", url)
        url = re.sub(r"<(?:\w+:)?kind>", "pickup", url)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_every_int_in_a_path_past_the_column_is_404(app, client, auth, make_user, farm, role):
    _login(make_user, auth, role, farm.membership.member if role == Role.MEMBER else None)
    urls = _int_urls(app, HUGE[0])
    assert len(urls) >= 11
    for value in HUGE:
        for method, url in _int_urls(app, value):
            response = client.open(url, method=method)
            assert response.status_code in (403, 404), f"{method} {url}: {response.status_code}"
            if role == Role.ADMIN:
                assert response.status_code == 404, f"{method} {url}"
    # The largest id the column holds is an ordinary missing row.
    assert client.get(f"/share/member/{INT4_MAX}").status_code in (403, 404)


def test_digits_of_other_scripts_in_a_path_are_404(client, auth, make_user, farm):
    _login(make_user, auth, Role.ADMIN)
    assert client.get("/calendar/messages/\u0661").status_code == 404  # Arabic-Indic one
    assert client.get("/calendar/messages/\u2460").status_code == 404  # circled one


def test_a_member_asking_for_a_huge_membership_id_is_not_a_500(client, auth, make_user, farm):
    _login(make_user, auth, Role.MEMBER, farm.membership.member)
    for value in HUGE:
        response = client.get(f"/share/round/2027-05-04?membership={value}")
        assert response.status_code in (200, 404), value


@pytest.mark.parametrize("first", ["9999-12-31", "0001-01-01", "2099-12-31", "2000-01-01"])
def test_calendar_far_dates_are_brought_into_range(client, auth, make_user, farm, first):
    _login(make_user, auth, Role.COORDINATOR)
    assert client.get(f"/calendar/?from={first}").status_code == 200


@pytest.mark.parametrize(
    "path", ["/rounds/9999-12-31", "/share/round/9999-12-31", "/sheets/9999-12-31"]
)
def test_far_dates_in_a_path_are_404(client, auth, make_user, farm, path):
    _login(make_user, auth, Role.COORDINATOR)
    assert client.get(path).status_code == 404


def test_a_far_date_in_a_form_is_refused_next_to_the_field(client, auth, make_user, farm, db):
    _login(make_user, auth, Role.COORDINATOR)
    response = client.post(
        "/setup/seasons/new", data={"name": "Far", "start": "2027-01-01", "end": "9999-12-31"}
    )
    assert response.status_code == 400
    assert "Choose a date from 2000-01-01 to 2099-12-31." in response.get_data(as_text=True)
    assert db.session.scalar(select(Season).where(Season.name == "Far")) is None
    rounds = count(db, Round)
    client.post("/rounds/add", data={"date": "9999-12-28"})
    assert count(db, Round) == rounds


def test_a_crop_typed_as_a_circled_digit_is_a_line_error(client, auth, make_user, farm, db):
    _login(make_user, auth, Role.FARMER)
    round_ = db.session.scalar(select(Round))
    for crop in ("\u2460", "\u0661", "\u00b2"):
        response = client.post(
            "/harvest/",
            data={
                "round_id": round_.id,
                "submission": new_token(),
                "lines-0-crop": crop,
                "lines-0-quantity": "2",
            },
        )
        assert response.status_code == 400, crop
        assert "There is no crop" in response.get_data(as_text=True)
    arabic = client.post(
        "/harvest/",
        data={
            "round_id": round_.id,
            "submission": new_token(),
            "lines-0-crop": farm.tomatoes.id,
            "lines-0-quantity": "\u0661\u0662",
        },
    )
    assert arabic.status_code == 400
    assert count(db, HarvestEntry) == 0


def test_numbers_past_int4_in_setup_forms_are_refused(client, auth, make_user, farm, db):
    _login(make_user, auth, Role.COORDINATOR)
    site = {
        "name": "Big",
        "address": "x",
        "weekday": "2",
        "opens": "10:00",
        "closes": "12:00",
        "every_weeks": "1",
        "week_offset": "0",
    }
    for capacity in (str(INT4_MAX + 1), str(2**63), "9" * 30):
        response = client.post("/setup/sites/new", data={**site, "capacity": capacity})
        assert response.status_code == 400, capacity
    assert db.session.scalar(select(PickupSite).where(PickupSite.name == "Big")) is None
    crop = client.post(
        "/setup/crops/new", data={"name": "Huge", "unit": "kg", "step": "999999999,999"}
    )
    assert crop.status_code == 400
    assert "That number is too large." in crop.get_data(as_text=True)
    weight = client.post(
        "/setup/share-types/new", data={"name": "Huge", "weight": "999999999", "price": "1"}
    )
    assert weight.status_code == 400
    assert db.session.scalar(select(Crop).where(Crop.name == "Huge")) is None


# --- NUL and control characters: one filter, 400 with a clear page -------------------------

NUL_MESSAGE = "The form holds a control character"


def test_a_nul_byte_in_the_anonymous_login_form_is_400(client, db):
    response = client.post("/auth/login", data={"email": "a\x00@example.org", "password": "x"})
    assert response.status_code == 400
    assert NUL_MESSAGE in response.get_data(as_text=True)
    response = client.post("/auth/login", data={"email": "a@example.org", "password": "x\x00"})
    assert response.status_code == 400


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\x85"])
def test_control_characters_in_a_form_write_nothing(client, auth, make_user, farm, db, char):
    _login(make_user, auth, Role.COORDINATOR)
    response = client.post(
        f"/register/members/{farm.membership.member.id}",
        data={
            "name": f"Ann{char}Member",
            "email": "ann@example.org",
            "phone": "",
            "address": "",
            "locale": "en",
            "notes": "",
        },
    )
    assert response.status_code == 400
    assert NUL_MESSAGE in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, farm.membership.member.id).name == "Ann Member"


def test_line_breaks_and_tabs_are_not_refused_by_the_filter(client, auth, make_user, farm, db):
    _login(make_user, auth, Role.COORDINATOR)
    response = client.post(
        f"/register/members/{farm.membership.member.id}",
        data={
            "name": "Ann Member",
            "email": farm.membership.member.email,
            "locale": "en",
            "notes": "first line\r\nsecond\tline",
        },
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    "url",
    [
        "/register/?q=a%00b",
        "/calendar/?from=2027-05-04%00",
        "/harvest/preview?round_id=1&lines-0-crop=%00",
        "/calendar/feed/%00abc.ics",
        "/register/?q%00=1",
    ],
)
def test_a_nul_byte_in_the_address_is_400(client, auth, make_user, farm, url):
    _login(make_user, auth, Role.COORDINATOR)
    response = client.get(url)
    assert response.status_code == 400
    assert "The address holds a control character" in response.get_data(as_text=True)


def test_a_nul_byte_in_an_anonymous_feed_address_is_400(client, db):
    assert client.get("/calendar/feed/abc%00.ics").status_code == 400


@pytest.mark.parametrize("command", ["add-round", "lock-round", "export-round", "sheets"])
def test_a_far_date_on_the_command_line_is_a_message(runner, farm, db, command):
    rounds = count(db, Round)
    result = runner.invoke(args=["csa", command, "9999-12-28"])
    assert result.exit_code == 1
    assert "is outside 2000-01-01..2099-12-31" in result.output
    assert count(db, Round) == rounds


@pytest.mark.parametrize("path", ["/register/", "/auth/users", "/calendar/messages"])
@pytest.mark.parametrize("page", HUGE + ["\u0661\u0662", "-3", "x"])
def test_a_huge_page_number_is_not_a_500(client, auth, make_user, farm, path, page):
    _login(make_user, auth, Role.ADMIN)
    assert client.get(path, query_string={"page": page}).status_code == 200
