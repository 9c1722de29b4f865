"""Text people type is normalised in one place (csa/core/text.py, applied by every form
through csa/ui/forms.py and by the register's CSV import): no control characters, no bidi
overrides or invisible names, NFC, lengths that fit the columns."""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil

import pytest
from sqlalchemy import func, select
from wtforms import Form, PasswordField, StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import Length

import csa
from csa.core.text import clean_line, clean_lines, refused, visible
from csa.models import Crop, Member, Role
from csa.ui.forms import InputForm, InputSubForm, text_filter
from tests.factories import add_member, make_farm


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  Anna   Nowak ", "Anna Nowak"),
        ("Anna\r\nBcc: x@example.org", "Anna Bcc: x@example.org"),
        ("Anna\tNowak", "Anna Nowak"),
        ("\u202eanwoN annA", "anwoN annA"),
        ("Anna\u2066 Nowak\u2069", "Anna Nowak"),
        ("Zo\u0301fia", "Z\u00f3fia"),  # NFD in, NFC out
        ("Ann\x00a\x1b", "Anna"),
        ("\u202e\u202e", ""),
        ("\u200b\u200d\ufeff", ""),
        ("\u3164", ""),  # a Hangul filler: a letter that shows nothing
        ("\u00a0\u2003", ""),
        ("Łódź ☀", "Łódź ☀"),
    ],
)
def test_clean_line(typed, stored):
    assert clean_line(typed) == stored
    assert clean_line(stored) == stored  # cleaning twice changes nothing


def test_clean_lines_keeps_line_breaks_only():
    assert clean_lines(" one \r\ntwo\u202e\rthree\n\n") == "one\ntwo\nthree"


@pytest.mark.parametrize(("text", "bad"), [("a\x00", True), ("\x7f", True), ("a\tb\r\n", False)])
def test_refused(text, bad):
    assert refused(text) is bad


def test_visible():
    assert all(visible(t) for t in ("a", "·", "1"))
    assert not any(visible(t) for t in ("", " \u200b\u202e\u3164"))


def _form_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(csa.__path__):
        try:
            module = importlib.import_module(f"csa.{info.name}.forms")
        except ModuleNotFoundError:
            continue
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Form) and cls.__module__ == module.__name__
        ]
    return found


def test_every_form_cleans_its_text(app):
    classes = _form_classes()
    assert len(classes) >= 20
    bad = [c.__name__ for c in classes if not issubclass(c, InputForm | InputSubForm)]
    assert bad == []


# Text fields never stored as typed: looked up (crop), parsed (quantity) or cut (q).
NOT_STORED = {("LineForm", "crop"), ("LineForm", "quantity"), ("RegisterFilterForm", "q")}
NOT_STORED |= {("EntryForm", "quantity"), ("HarvestForm", "submission")}


def test_every_stored_text_field_has_a_length_limit(app):
    missing = []
    for cls in _form_classes():
        for name, unbound in vars(cls).items():
            if not isinstance(unbound, UnboundField):
                continue
            kind = unbound.field_class
            if not issubclass(kind, StringField) or issubclass(kind, PasswordField):
                continue
            if text_filter(kind) is None or (cls.__name__, name) in NOT_STORED:
                continue
            if getattr(kind, "process_formdata", None) is not StringField.process_formdata:
                continue  # a number typed as text (MilliField, MoneyField): parsed, bounded
            validators = unbound.kwargs.get("validators") or []
            if not any(isinstance(v, Length) and v.max > 0 for v in validators):
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []


@pytest.fixture
def farm(db):
    farm = make_farm()
    farm.membership = add_member(farm, "Ann Member", email="ann@example.org")
    db.session.commit()
    return farm


@pytest.fixture
def coordinator(make_user, auth):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def _member_form(**values):
    data = {
        "name": "Ann Member",
        "email": "ann@example.org",
        "phone": "",
        "address": "",
        "locale": "en",
        "notes": "",
    }
    data.update(values)
    return data


def test_member_fields_are_stored_clean(client, coordinator, farm, db):
    member_id = farm.membership.member.id
    response = client.post(
        f"/register/members/{member_id}",
        data=_member_form(
            name="\u202eAnna\u2066 Zo\u0301fia\r\n",
            phone=" +48\t600 ",
            address="Mill\nLane 1",
            notes="first\r\n\u202esecond",
        ),
    )
    assert response.status_code == 302
    db.session.expire_all()
    member = db.session.get(Member, member_id)
    assert (member.name, member.phone, member.address, member.notes) == (
        "Anna Z\u00f3fia",
        "+48 600",
        "Mill Lane 1",
        "first\nsecond",
    )


@pytest.mark.parametrize("name", ["\u202e", "\u2066\u2069 \u200b", "\u3164\u3164", "\r\n\t"])
def test_a_name_with_nothing_visible_is_refused(client, coordinator, farm, db, name):
    member_id = farm.membership.member.id
    response = client.post(f"/register/members/{member_id}", data=_member_form(name=name))
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Member, member_id).name == "Ann Member"
    crop = client.post("/setup/crops/new", data={"name": name, "unit": "kg", "step": "1"})
    assert crop.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Crop)) == 2


def test_a_100000_character_note_is_refused(client, coordinator, farm, db):
    member_id = farm.membership.member.id
    response = client.post(f"/register/members/{member_id}", data=_member_form(notes="n" * 100_000))
    assert response.status_code == 400
    assert "5000" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Member, member_id).notes == ""


HEADER = "name,email,phone,share_type,shares,site,season,start,end\n"


def _import(client, body: str):
    return client.post(
        "/register/import",
        data={"file": (io.BytesIO((HEADER + body).encode()), "m.csv")},
        content_type="multipart/form-data",
    )


def test_the_csv_import_cleans_names_as_the_forms_do(client, coordinator, farm, db):
    response = _import(
        client, "\u202eZo\u0301fia\u2069 Kos,zofia@example.org,,Full,1,Old Mill,Season 2027,,\n"
    )
    assert response.status_code == 302
    member = db.session.scalar(select(Member).where(Member.email == "zofia@example.org"))
    assert member.name == "Z\u00f3fia Kos"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Nul\x00Name,n@example.org,,Full,1,Old Mill,Season 2027,,", "holds a control character"),
        ("\u202e\u202e,n@example.org,,Full,1,Old Mill,Season 2027,,", "name is empty"),
        ("N" * 201 + ",n@example.org,,Full,1,Old Mill,Season 2027,,", "longer than 200 characters"),
        (
            "Ann,n@example.org," + "1" * 51 + ",Full,1,Old Mill,Season 2027,,",
            "longer than 50 characters",
        ),
        ("Ann,n@example.org,,Full,1,Old Mill,Season 2027,9999-01-01,", "start must be a date"),
    ],
)
def test_the_csv_import_refuses_bad_text_and_writes_nothing(
    client, coordinator, farm, db, row, reason
):
    members = db.session.scalar(select(func.count()).select_from(Member))
    response = _import(client, row + "\n")
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Member)) == members


def test_length_limits_fit_the_columns(app):
    from csa.accounts.forms import StaffUserForm
    from csa.calendar.forms import CancelForm
    from csa.models import PickupSite, Round, RoundLog, Season, ShareType, User
    from csa.register.forms import MemberForm, NewMembershipForm
    from csa.rounds.forms import ReopenForm
    from csa.setup.forms import CropForm, PickupSiteForm, SeasonForm, ShareTypeForm

    pairs = [
        (MemberForm, Member, {}),
        (NewMembershipForm, Member, {}),
        (StaffUserForm, User, {}),
        (SeasonForm, Season, {}),
        (ShareTypeForm, ShareType, {}),
        (PickupSiteForm, PickupSite, {}),
        (CropForm, Crop, {}),
        (CancelForm, Round, {"reason": "cancel_reason"}),
        (ReopenForm, RoundLog, {"reason": "note"}),
    ]
    checked = []
    for form, model, renamed in pairs:
        for name, unbound in vars(form).items():
            if not isinstance(unbound, UnboundField):
                continue
            if text_filter(unbound.field_class) is None:
                continue  # choices, dates, numbers: bounded by their own rules
            column = model.__table__.c.get(renamed.get(name, name))
            length = getattr(getattr(column, "type", None), "length", None)
            if length is None:
                continue
            limits = [v.max for v in unbound.kwargs.get("validators", []) if isinstance(v, Length)]
            assert limits, f"{form.__name__}.{name} has no length limit"
            assert 0 < limits[0] <= length, f"{form.__name__}.{name}: {limits[0]} > {length}"
            checked.append(f"{form.__name__}.{name}")
    assert len(checked) >= 12
