"""The farm setup: seasons, share types, pickup sites and crops through one list, one edit
and one deactivate/reactivate view (csa/setup/views.py), each kind with its own rules."""

from __future__ import annotations

import re
from datetime import date, time

import pytest
from sqlalchemy import func, select

from csa import create_app
from csa.extensions import db as _db
from csa.models import Crop, PickupSite, Role, Season, ShareType
from tests.conftest import PASSWORD
from tests.factories import add_member, make_farm


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


# --- the behaviour of each kind, as the register's setup pages had it ---------------------


def test_settings_page_links_the_four_lists(client, coordinator, farm):
    response = client.get("/setup/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for path in (
        "/setup/seasons",
        "/setup/share-types",
        "/setup/sites",
        "/setup/crops",
    ):
        assert f'href="{path}"' in html
        assert client.get(path).status_code == 200


def test_season_create_edit_deactivate_reactivate(client, coordinator, db):
    response = client.post(
        "/setup/seasons/new",
        data={"name": "Season 2028", "start": "2028-05-01", "end": "2028-11-30"},
    )
    assert (response.status_code, response.headers["Location"]) == (302, "/setup/seasons")
    season = db.session.scalar(select(Season).where(Season.name == "Season 2028"))
    assert (season.start, season.end, season.active) == (date(2028, 5, 1), date(2028, 11, 30), True)

    response = client.post(
        f"/setup/seasons/{season.id}/edit",
        data={"name": "Main 2028", "start": "2028-04-15", "end": "2028-11-30"},
    )
    assert response.status_code == 302
    db.session.refresh(season)
    assert (season.name, season.start) == ("Main 2028", date(2028, 4, 15))

    response = client.post(f"/setup/seasons/{season.id}/deactivate")
    assert (response.status_code, response.headers["Location"]) == (302, "/setup/seasons")
    db.session.refresh(season)
    assert season.active is False
    client.post(f"/setup/seasons/{season.id}/reactivate")
    db.session.refresh(season)
    assert season.active is True


def test_season_rules(client, coordinator, farm, db):
    backwards = client.post(
        "/setup/seasons/new", data={"name": "Odd", "start": "2028-05-01", "end": "2028-04-01"}
    )
    assert backwards.status_code == 400
    assert "The end date is before the start date." in backwards.get_data(as_text=True)
    taken = client.post(
        "/setup/seasons/new",
        data={"name": "season 2027", "start": "2028-05-01", "end": "2028-11-30"},
    )
    assert taken.status_code == 400
    assert "The name season 2027 is taken." in taken.get_data(as_text=True)
    client.post("/setup/crops/new", data={"name": "Żurawina", "unit": "kg", "step": "0,1"})
    again = client.post("/setup/crops/new", data={"name": "żURAWINA", "unit": "kg", "step": "1"})
    assert again.status_code == 400
    assert "The name żURAWINA is taken." in again.get_data(as_text=True)
    assert count(db, Crop) == 3  # the farm's two and Żurawina
    assert count(db, Season) == 1
    # Shrinking a season under its memberships is refused.
    add_member(farm)
    db.session.commit()
    shrink = client.post(
        f"/setup/seasons/{farm.season.id}/edit",
        data={"name": "Season 2027", "start": "2027-06-01", "end": "2027-11-30"},
    )
    assert shrink.status_code == 400
    assert "1 membership runs outside these dates" in shrink.get_data(as_text=True)
    db.session.refresh(farm.season)
    assert farm.season.start == date(2027, 5, 1)


def test_share_type_weight_and_price_take_decimal_commas(client, coordinator, db):
    response = client.post(
        "/setup/share-types/new", data={"name": "Family", "weight": "1,5", "price": "1 650,50"}
    )
    assert (response.status_code, response.headers["Location"]) == (302, "/setup/share-types")
    share_type = db.session.scalar(select(ShareType).where(ShareType.name == "Family"))
    assert (share_type.weight_milli, share_type.price_cents) == (1500, 165050)

    response = client.post(
        f"/setup/share-types/{share_type.id}/edit",
        data={"name": "Family", "weight": "0.75", "price": "650"},
    )
    assert response.status_code == 302
    db.session.refresh(share_type)
    assert (share_type.weight_milli, share_type.price_cents) == (750, 65000)
    listing = client.get("/setup/share-types").get_data(as_text=True)
    assert "650.00" in listing
    assert "0.75" in listing
    edit = client.get(f"/setup/share-types/{share_type.id}/edit").get_data(as_text=True)
    assert 'value="0.75"' in edit
    assert 'value="650.00"' in edit


def test_share_type_rejects_bad_numbers(client, coordinator, db):
    response = client.post(
        "/setup/share-types/new", data={"name": "Odd", "weight": "half", "price": "12,345"}
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Enter a number like 0,5 or 1.25 (at most three decimals)." in html
    assert "Enter an amount like 650,00." in html
    zero = client.post("/setup/share-types/new", data={"name": "Odd", "weight": "0", "price": "1"})
    assert zero.status_code == 400
    assert "Enter a number above zero." in zero.get_data(as_text=True)
    assert count(db, ShareType) == 0


def _site_form(**extra):
    data = {
        "name": "Green School",
        "address": "Szkolna 12",
        "weekday": "4",
        "opens": "14:30",
        "closes": "17:30",
        "capacity": "20",
        "every_weeks": "2",
        "week_offset": "1",
    }
    data.update(extra)
    return data


def test_pickup_site_create_and_edit(client, coordinator, db):
    response = client.post("/setup/sites/new", data=_site_form())
    assert (response.status_code, response.headers["Location"]) == (302, "/setup/sites")
    site = db.session.scalar(select(PickupSite).where(PickupSite.name == "Green School"))
    assert (site.weekday, site.opens, site.closes) == (4, time(14, 30), time(17, 30))
    assert (site.capacity, site.every_weeks, site.week_offset) == (20, 2, 1)
    assert "Friday" in client.get("/setup/sites").get_data(as_text=True)

    response = client.post(
        f"/setup/sites/{site.id}/edit",
        data=_site_form(capacity="25", every_weeks="1", week_offset="0"),
    )
    assert response.status_code == 302
    db.session.refresh(site)
    assert (site.capacity, site.every_weeks, site.week_offset) == (25, 1, 0)


def test_pickup_site_rules(client, coordinator, db):
    early = client.post("/setup/sites/new", data=_site_form(closes="14:00"))
    assert early.status_code == 400
    assert "The site must close after it opens." in early.get_data(as_text=True)
    offset = client.post("/setup/sites/new", data=_site_form(every_weeks="1", week_offset="1"))
    assert offset.status_code == 400
    assert "The week offset must be below the number of weeks." in offset.get_data(as_text=True)
    weekday = client.post("/setup/sites/new", data=_site_form(weekday="7"))
    assert weekday.status_code == 400
    assert count(db, PickupSite) == 0


def test_crop_create_edit_and_deactivate(client, coordinator, db):
    response = client.post(
        "/setup/crops/new", data={"name": "Tomatoes", "unit": "kg", "step": "0,05"}
    )
    assert (response.status_code, response.headers["Location"]) == (302, "/setup/crops")
    crop = db.session.scalar(select(Crop).where(Crop.name == "Tomatoes"))
    assert (crop.unit, crop.step_milli, crop.active) == ("kg", 50, True)

    client.post(
        f"/setup/crops/{crop.id}/edit", data={"name": "Tomatoes", "unit": "box", "step": "1"}
    )
    db.session.refresh(crop)
    assert (crop.unit, crop.step_milli) == ("box", 1000)

    response = client.post(f"/setup/crops/{crop.id}/deactivate")
    assert (response.status_code, response.headers["Location"]) == (302, "/setup/crops")
    db.session.refresh(crop)
    assert crop.active is False
    assert count(db, Crop) == 1


def test_crop_rejects_unknown_unit(client, coordinator, db):
    response = client.post("/setup/crops/new", data={"name": "Gold", "unit": "ounce", "step": "1"})
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert count(db, Crop) == 0


def test_deactivated_settings_are_kept_but_not_offered(client, coordinator, farm, db):
    membership = add_member(farm, share_type=farm.family, site=farm.thursday)
    db.session.commit()
    client.post(f"/setup/share-types/{farm.family.id}/deactivate")
    client.post(f"/setup/sites/{farm.thursday.id}/deactivate")
    new_form = client.get("/register/memberships/new").get_data(as_text=True)
    assert f'<option value="{farm.family.id}">Family</option>' not in new_form
    assert ">Town Hall (Thursday)</option>" not in new_form
    assert ">Old Mill (Tuesday)</option>" in new_form
    # The membership that uses them keeps them, and its edit form still offers them.
    edit_form = client.get(f"/register/memberships/{membership.id}/edit").get_data(as_text=True)
    assert f'<option selected value="{farm.family.id}">Family</option>' in edit_form
    assert ">Town Hall (Thursday)</option>" in edit_form
    db.session.refresh(membership)
    assert (membership.share_type_id, membership.site_id) == (farm.family.id, farm.thursday.id)
    client.post(f"/setup/sites/{farm.thursday.id}/reactivate")
    db.session.refresh(farm.thursday)
    assert farm.thursday.active is True


def test_state_changes_are_post_only(client, coordinator, farm, db):
    for url in (
        f"/setup/seasons/{farm.season.id}/deactivate",
        f"/setup/share-types/{farm.half.id}/reactivate",
        f"/setup/sites/{farm.thursday.id}/deactivate",
        f"/setup/crops/{farm.tomatoes.id}/deactivate",
    ):
        assert client.get(url).status_code == 405, url
    db.session.expire_all()
    assert all(r.active for r in (farm.season, farm.half, farm.thursday, farm.tomatoes))


# --- the generic views, kind by kind -------------------------------------------------------

# slug: (model, the farm's row, a good new row, (a bad edit, its message), a good edit)
KINDS = {
    "seasons": (
        Season,
        "season",
        {"name": "Season 2029", "start": "2029-05-01", "end": "2029-11-30"},
        (
            {"name": "Season 2027", "start": "2027-05-01", "end": "2027-04-01"},
            "The end date is before the start date.",
        ),
        {"name": "Main season", "start": "2027-05-01", "end": "2027-12-15"},
    ),
    "share-types": (
        ShareType,
        "half",
        {"name": "Mini", "weight": "0,25", "price": "300"},
        (
            {"name": "Half", "weight": "a half", "price": "650"},
            "Enter a number like 0,5 or 1.25 (at most three decimals).",
        ),
        {"name": "Half share", "weight": "0,5", "price": "700,00"},
    ),
    "sites": (
        PickupSite,
        "thursday",
        {
            "name": "Barn",
            "address": "Field 3",
            "weekday": "5",
            "opens": "09:00",
            "closes": "12:00",
            "capacity": "10",
            "every_weeks": "1",
            "week_offset": "0",
        },
        (
            {
                "name": "Town Hall",
                "address": "Market Sq 2",
                "weekday": "3",
                "opens": "15:00",
                "closes": "15:00",
                "capacity": "3",
                "every_weeks": "1",
                "week_offset": "0",
            },
            "The site must close after it opens.",
        ),
        {
            "name": "Town Hall",
            "address": "Market Sq 2",
            "weekday": "3",
            "opens": "15:00",
            "closes": "18:30",
            "capacity": "5",
            "every_weeks": "1",
            "week_offset": "0",
        },
    ),
    "crops": (
        Crop,
        "tomatoes",
        {"name": "Kale", "unit": "bunch", "step": "1"},
        ({"name": "PUMPKINS", "unit": "kg", "step": "1"}, "The name PUMPKINS is taken."),
        {"name": "Cherry tomatoes", "unit": "kg", "step": "0,1"},
    ),
}


def _values(row) -> dict:
    """Every column of a row, to see that a refused edit wrote nothing."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


@pytest.mark.parametrize("slug", KINDS)
def test_each_kind_lists_its_rows_active_first(client, coordinator, farm, db, slug):
    model, attr, *_rest = KINDS[slug]
    row = getattr(farm, attr)
    row.active = False
    db.session.commit()
    response = client.get(f"/setup/{slug}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    names = re.findall(r"<tr>\s*<td>([^<]+)</td>", html)
    everything = db.session.scalars(select(model)).all()
    assert sorted(names) == sorted(r.name for r in everything)
    assert names[-1] == row.name  # the inactive one comes last
    assert f'action="/setup/{slug}/{row.id}/reactivate"' in html
    assert f'href="/setup/{slug}/{row.id}/edit"' in html
    assert f'href="/setup/{slug}/new"' in html


@pytest.mark.parametrize("slug", KINDS)
def test_each_kind_creates_a_row(client, coordinator, farm, db, slug):
    model, _attr, good, *_rest = KINDS[slug]
    before = count(db, model)
    assert client.get(f"/setup/{slug}/new").status_code == 200
    response = client.post(f"/setup/{slug}/new", data=good)
    assert (response.status_code, response.headers["Location"]) == (302, f"/setup/{slug}")
    assert count(db, model) == before + 1
    created = db.session.scalar(select(model).where(model.name == good["name"]))
    assert created is not None
    assert created.active is True
    page = client.get(f"/setup/{slug}").get_data(as_text=True)
    assert f"{good['name']} is saved." in page
    assert f"<td>{good['name']}</td>" in page


@pytest.mark.parametrize("slug", KINDS)
def test_each_kind_refuses_a_bad_edit_and_writes_nothing(client, coordinator, farm, db, slug):
    model, attr, _good, (bad, message), _edit = KINDS[slug]
    add_member(farm, share_type=farm.half, site=farm.thursday)
    db.session.commit()
    row = getattr(farm, attr)
    before, rows = _values(row), count(db, model)
    response = client.post(f"/setup/{slug}/{row.id}/edit", data=bad)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'class="field has-error"' in html  # next to its field, not only at the top
    db.session.expire_all()
    assert _values(db.session.get(model, row.id)) == before
    assert count(db, model) == rows


@pytest.mark.parametrize("slug", KINDS)
def test_each_kind_saves_a_good_edit(client, coordinator, farm, db, slug):
    model, attr, _good, _bad, edit = KINDS[slug]
    row = getattr(farm, attr)
    form = client.get(f"/setup/{slug}/{row.id}/edit").get_data(as_text=True)
    assert f'value="{row.name}"' in form
    response = client.post(f"/setup/{slug}/{row.id}/edit", data=edit)
    assert (response.status_code, response.headers["Location"]) == (302, f"/setup/{slug}")
    db.session.expire_all()
    assert db.session.get(model, row.id).name == edit["name"]


@pytest.mark.parametrize("slug", KINDS)
def test_each_kind_deactivates_and_reactivates(client, coordinator, farm, db, slug):
    model, attr, *_rest = KINDS[slug]
    row_id = getattr(farm, attr).id
    response = client.post(f"/setup/{slug}/{row_id}/deactivate")
    assert (response.status_code, response.headers["Location"]) == (302, f"/setup/{slug}")
    db.session.expire_all()
    row = db.session.get(model, row_id)
    assert row.active is False
    page = client.get(f"/setup/{slug}").get_data(as_text=True)
    assert f"{row.name} is deactivated." in page
    assert f'action="/setup/{slug}/{row_id}/reactivate"' in page

    response = client.post(f"/setup/{slug}/{row_id}/reactivate", follow_redirects=True)
    assert f"{row.name} is active again." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(model, row_id).active is True


def test_an_unknown_row_is_404(client, coordinator, farm):
    assert client.get("/setup/crops/999999/edit").status_code == 404
    assert client.post("/setup/sites/999999/deactivate").status_code == 404
    assert client.get("/setup/tractors").status_code == 404


def _setup_urls(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("setup.") and rule.endpoint != "setup.static":
            url = re.sub(r"<int:\w+>", "1", rule.rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, url


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FARMER])
def test_members_and_farmers_get_403_on_every_setup_page(
    app, client, auth, make_user, db, farm, role
):
    membership = add_member(farm)
    db.session.commit()
    user = make_user(role, member=membership.member if role == Role.MEMBER else None)
    auth.login(user.email)
    urls = list(_setup_urls(app))
    # The index, and for each of the four kinds: list, new (2), edit (2), (de|re)activate.
    assert len(urls) == 1 + 4 * 7
    for method, url in urls:
        response = client.open(url, method=method, data={"name": "Hacked"})
        assert response.status_code == 403, f"{method} {url}"
    db.session.expire_all()
    for model in (Season, ShareType, PickupSite, Crop):
        assert all(row.active for row in db.session.scalars(select(model)))
        assert "Hacked" not in [row.name for row in db.session.scalars(select(model))]


def test_old_register_addresses_move_for_good(client, coordinator, farm):
    ids = {"seasons": farm.season.id, "share-types": farm.half.id}
    ids |= {"sites": farm.thursday.id, "crops": farm.tomatoes.id}
    moves = {"/register/settings": "/setup/"}
    for slug, row_id in ids.items():
        moves[f"/register/{slug}"] = f"/setup/{slug}"
        moves[f"/register/{slug}/new"] = f"/setup/{slug}/new"
        moves[f"/register/{slug}/{row_id}/edit"] = f"/setup/{slug}/{row_id}/edit"
    for old, new in moves.items():
        response = client.get(old)
        assert (response.status_code, response.headers["Location"]) == (301, new), old
        assert client.get(new).status_code == 200, new


def test_the_navigation_marks_farm_setup_on_its_sub_pages(client, coordinator, farm):
    html = client.get("/setup/crops").get_data(as_text=True)
    assert '<a href="/setup/" aria-current="true">Farm setup</a>' in html
    html = client.get("/setup/").get_data(as_text=True)
    assert '<a href="/setup/" aria-current="page">Farm setup</a>' in html


# --- CSRF, as in production ----------------------------------------------------------------


@pytest.fixture
def strict_client(app, app_config):
    """A client of the same database with CSRF protection on."""
    strict = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    yield strict.test_client()
    with strict.app_context():
        _db.engine.dispose()


def _token(html: str) -> str:
    return html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def test_every_setup_form_needs_its_csrf_token(strict_client, make_user, farm, db):
    client = strict_client
    user = make_user(Role.COORDINATOR)
    token = _token(client.get("/auth/login").get_data(as_text=True))
    login = {"email": user.email, "password": PASSWORD, "csrf_token": token}
    assert client.post("/auth/login", data=login).status_code == 302
    crop_id = farm.tomatoes.id
    good = {"name": "Kale", "unit": "bunch", "step": "1"}

    assert client.post("/setup/crops/new", data=good).status_code == 400
    assert client.post(f"/setup/crops/{crop_id}/edit", data=good).status_code == 400
    assert client.post(f"/setup/crops/{crop_id}/deactivate").status_code == 400
    db.session.expire_all()
    assert count(db, Crop) == 2
    assert db.session.get(Crop, crop_id).active is True

    listing = client.get("/setup/crops").get_data(as_text=True)
    response = client.post(
        f"/setup/crops/{crop_id}/deactivate", data={"csrf_token": _token(listing)}
    )
    assert response.status_code == 302
    form = client.get("/setup/crops/new").get_data(as_text=True)
    response = client.post("/setup/crops/new", data={**good, "csrf_token": _token(form)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Crop, crop_id).active is False
    assert count(db, Crop) == 3
