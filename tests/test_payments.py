"""Payments (csa/payments): typed by hand, imported from statements, matched and allocated,
the unmatched matched by hand, the accounting export and the CLI; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from csa.core.banking import payment_reference
from csa.extensions import db as _db
from csa.models import (
    Invoice,
    InvoiceKind,
    Payment,
    PaymentAllocation,
    PaymentIgnore,
    PaymentMethod,
    Role,
)
from csa.money.balances import open_cents
from csa.money.profile import farm_profile
from csa.payments import operations
from csa.payments.statements import MAX_BYTES
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint

DATA = Path(__file__).parent / "data"
_seq = itertools.count(1)


def make_invoice(
    member, total: int, due: date, *, kind=InvoiceKind.INVOICE, credits=None, issued=None
) -> Invoice:
    """An issued invoice as csa/invoices would leave it (numbered, with its RF reference)."""
    seq = next(_seq)
    number = f"2027-{seq:04d}"
    invoice = Invoice(
        kind=kind,
        year=2027,
        seq=seq,
        number=number,
        member_id=member.id,
        issued_on=issued or date(2027, 4, 15),
        due_on=due,
        total_cents=total,
        currency="EUR",
        reference=payment_reference(number),
        buyer_name=member.name,
        credits=credits,
    )
    _db.session.add(invoice)
    _db.session.flush()
    return invoice


def camt(name: str, **values: str) -> bytes:
    text = (DATA / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.encode("utf-8")


@pytest.fixture
def farm(app, db):
    farm_profile()  # the farm's currency (EUR), made once
    farm = make_farm()
    jan = add_member(farm, name="Jan Kowalski").member
    zaneta = add_member(farm, name="Żaneta Łukasiewicz").member
    ewa = add_member(farm, name="Ewa Nowak").member
    _db.session.flush()
    invoices = {
        "jan1": make_invoice(jan, 65000, date(2027, 5, 1)),
        "jan2": make_invoice(jan, 65000, date(2027, 6, 1)),
        "zaneta": make_invoice(zaneta, 10000, date(2027, 5, 1)),
        "ewa": make_invoice(ewa, 65000, date(2027, 5, 1)),
    }
    _db.session.commit()
    return {"jan": jan, "zaneta": zaneta, "ewa": ewa, **invoices}


def still_open(*invoices: Invoice) -> list[int]:
    found = open_cents(invoices)
    return [found[i.id] for i in invoices]


def count(model) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


def test_import_camt053_matches_by_reference_name_and_amount_and_leaves_a_stranger(farm):
    data = camt("camt053_v02.xml", REF1=farm["jan2"].reference)
    summary = operations.import_file(data)
    _db.session.commit()
    assert (summary.matched, summary.unmatched, summary.duplicates) == (2, 1, 0)
    assert summary.matched_cents == 75000
    assert summary.unmatched_cents == 3000
    assert len(summary.refused) == 1  # the debit
    # The referenced invoice first (June's), although May's is older.
    assert still_open(farm["jan1"], farm["jan2"], farm["zaneta"]) == [65000, 0, 0]
    stranger = _db.session.scalar(select(Payment).where(Payment.payer_name == "Unknown Stranger"))
    assert stranger.member_id is None
    assert stranger in _db.session.scalars(operations.unmatched_select())


def test_importing_twice_and_an_overlapping_statement_change_nothing(farm):
    first = camt("camt053_v02.xml", REF1=farm["jan2"].reference)
    operations.import_file(first)
    _db.session.commit()
    before = fingerprint()
    again = operations.import_file(first)
    _db.session.commit()
    assert again.duplicates == 3
    assert again.matched == again.unmatched == 0
    assert changed_tables(before, fingerprint()) == []
    # A later statement repeating May's first entry and adding the camt.054 credit.
    body = first.decode()
    entry = body[body.index("<Ntry>") : body.index("</Ntry>") + len("</Ntry>")]
    later = camt("camt054_v04.xml").decode().replace("<Ntry>", entry + "<Ntry>", 1)
    summary = operations.import_file(later.encode())
    _db.session.commit()
    assert (summary.duplicates, summary.matched, summary.unmatched) == (1, 0, 1)
    assert count(Payment) == 4


def test_a_part_payment_by_name_stays_open_and_overpayment_stays_credit(farm):
    # camt.054: Jan pays 200.00 without a reference: no invoice asks exactly that.
    summary = operations.import_file(camt("camt054_v04.xml"))
    assert summary.unmatched == 1
    payment = _db.session.scalar(select(Payment))
    operations.match_by_hand(payment, farm["jan"].id)
    _db.session.commit()
    assert still_open(farm["jan1"], farm["jan2"]) == [45000, 65000]
    # A cash payment larger than what is open leaves credit on the payment.
    cash = operations.record_payment(
        booked_on=date(2027, 7, 1),
        amount_cents=120000,
        method=PaymentMethod.CASH,
        member_id=farm["jan"].id,
    )
    _db.session.commit()
    assert still_open(farm["jan1"], farm["jan2"]) == [0, 0]
    assert sum(a.amount_cents for a in cash.allocations) == 110000


def test_other_currency_lines_are_refused_the_rest_imported(farm):
    summary = operations.import_file(camt("camt053_v08.xml", NUMBER2=farm["ewa"].number))
    _db.session.commit()
    assert summary.matched == 1
    assert any("CHF" in r for r in summary.refused)
    assert any("not booked" in r for r in summary.refused)
    assert still_open(farm["ewa"]) == [0]
    assert _db.session.scalar(select(func.count()).where(Payment.currency == "CHF")) == 0


def test_csv_import_with_the_saved_mapping(farm):
    operations.save_mapping(
        date_column=1,
        amount_column=2,
        currency_column=0,
        payer_column=3,
        reference_column=4,
        date_format="%d.%m.%Y",
        decimal_comma=True,
        delimiter=";",
        header_rows=1,
    )
    text = (
        "Datum;Betrag;Name;Zweck\n"
        f"03.05.2027;650,00;Jan Kowalski;{farm['jan1'].reference}\n"
        "04.05.2027;100,00;LUKASIEWICZ ZANETA;Mai\n"
        "05.05.2027;-20,00;Bank;fees\n"
    )
    summary = operations.import_file(text.encode("cp1252"), "csv")
    _db.session.commit()
    assert (summary.matched, summary.unmatched, len(summary.refused)) == (2, 0, 1)
    assert still_open(farm["jan1"], farm["zaneta"]) == [0, 0]
    assert operations.import_file(text.encode("cp1252"), "csv").duplicates == 2


def test_a_huge_file_is_refused_whole(farm):
    with pytest.raises(operations.ValidationFailed, match="5 MB"):
        operations.import_file(b"<" + b" " * MAX_BYTES)


def test_csv_without_a_mapping_is_refused(farm):
    with pytest.raises(operations.ValidationFailed):
        operations.import_file(b"a;b\n1;2\n", "csv")


def test_a_crash_mid_import_leaves_nothing_and_a_rerun_completes(farm, monkeypatch):
    data = camt("camt053_v02.xml", REF1=farm["jan2"].reference)
    real = operations._allocate
    calls = {"n": 0}

    def crash(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(operations, "_allocate", crash)
    before = fingerprint()
    with pytest.raises(RuntimeError):
        operations.import_file(data)
    _db.session.rollback()
    assert changed_tables(before, fingerprint()) == []
    monkeypatch.setattr(operations, "_allocate", real)
    assert operations.import_file(data).matched == 2
    _db.session.commit()


def test_export_csv_signs_and_guards(farm):
    farm["ewa"].buyer_name = "=HYPERLINK(1)"
    make_invoice(
        farm["ewa"].member,
        5000,
        date(2027, 5, 1),
        kind=InvoiceKind.CREDIT_NOTE,
        credits=farm["ewa"],
    )
    operations.record_payment(
        booked_on=date(2027, 5, 2),
        amount_cents=60000,
        method=PaymentMethod.CASH,
        member_id=farm["ewa"].member_id,
        note="+cmd",
    )
    _db.session.commit()
    from csa.payments.export import export_csv

    rows = list(csv.reader(io.StringIO(export_csv(date(2027, 1, 1), date(2027, 12, 31)))))
    assert rows[0] == [
        "date",
        "kind",
        "number",
        "household",
        "amount",
        "currency",
        "reference",
        "allocation",
    ]
    kinds = [(r[1], r[4]) for r in rows[1:]]
    assert ("invoice", "650.00") in kinds
    assert ("credit_note", "-50.00") in kinds
    assert ("payment", "-600.00") in kinds
    assert "'=HYPERLINK(1)" in [r[3] for r in rows]
    payment_row = next(r for r in rows if r[1] == "payment")
    assert payment_row[7] == f"{farm['ewa'].number}:600.00"
    assert len(list(csv.reader(io.StringIO(export_csv(date(2026, 1, 1), date(2026, 1, 2)))))) == 1


# --- the pages -----------------------------------------------------------------------------


@pytest.fixture
def staff(farm, auth, make_user):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def test_record_by_hand_page(client, farm, staff):
    assert client.get("/payments/new").status_code == 200
    response = client.post(
        "/payments/new",
        data={
            "booked_on": "2027-05-02",
            "amount": "700,00",
            "method": "cash",
            "member": farm["jan"].id,
            "note": "at pickup",
        },
    )
    assert response.status_code == 302
    assert still_open(farm["jan1"], farm["jan2"]) == [0, 60000]
    page = client.get("/payments/").get_data(as_text=True)
    assert "Jan Kowalski" in page
    assert "at pickup" in page
    assert client.get("/payments/?source=credit").status_code == 200


@pytest.mark.parametrize("amount", ["", "0", "-5", "12,345", "abc", "99999999999"])
def test_record_by_hand_refuses_bad_amounts(client, farm, staff, amount):
    before = fingerprint()
    response = client.post(
        "/payments/new",
        data={
            "booked_on": "2027-05-02",
            "amount": amount,
            "method": "cash",
            "member": farm["jan"].id,
        },
    )
    assert response.status_code == 400
    assert changed_tables(before, fingerprint()) == []


def test_import_page_summary_and_refusals(client, farm, staff):
    data = camt("camt053_v02.xml", REF1=farm["jan2"].reference)
    response = client.post(
        "/payments/import", data={"file": (io.BytesIO(data), "may.xml"), "format": "auto"}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "2 payments matched" in page
    assert "1 payment unmatched" in page
    before = fingerprint()
    for bad in (b"<Document><Stmt>", b"<!DOCTYPE x><Document/>"):
        response = client.post(
            "/payments/import", data={"file": (io.BytesIO(bad), "x.xml"), "format": "camt"}
        )
        assert response.status_code == 400
        assert 'class="error"' in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


def test_unmatched_page_match_and_ignore(client, farm, staff):
    operations.import_file(camt("camt053_v02.xml", REF1="nothing"))
    operations.import_file(camt("camt054_v04.xml"))  # 200.00: no invoice asks that
    _db.session.commit()
    page = client.get("/payments/unmatched").get_data(as_text=True)
    assert "Unknown Stranger" in page
    assert "Jan Kowalski" in page
    stranger = _db.session.scalar(select(Payment).where(Payment.payer_name == "Unknown Stranger"))
    jan = _db.session.scalar(select(Payment).where(Payment.payer_name == "Jan Kowalski"))
    response = client.post(f"/payments/{jan.id}/match", data={f"p{jan.id}-member": farm["jan"].id})
    assert response.status_code == 302
    # JAN KOWALSKI's 650.00 paid May's by name and amount; the 200.00 goes to June's.
    assert still_open(farm["jan1"], farm["jan2"]) == [0, 45000]
    assert client.post(f"/payments/{stranger.id}/ignore").status_code == 302
    assert count(PaymentIgnore) == 1
    # Twice: refused, nothing written.
    before = fingerprint()
    assert client.post(f"/payments/{stranger.id}/ignore").status_code == 303
    assert (
        client.post(
            f"/payments/{jan.id}/match", data={f"p{jan.id}-member": farm["ewa"].id}
        ).status_code
        == 303
    )
    assert changed_tables(before, fingerprint()) == []
    assert "Unknown Stranger" not in client.get("/payments/unmatched").get_data(as_text=True)


def test_mapping_page_and_export_download(client, farm, staff):
    assert client.get("/payments/mapping").status_code == 200
    response = client.post(
        "/payments/mapping",
        data={
            "date_column": 1,
            "amount_column": 2,
            "currency_column": 0,
            "payer_column": 3,
            "reference_column": 4,
            "date_format": "%Y-%m-%d",
            "delimiter": ",",
            "header_rows": 0,
        },
    )
    assert response.status_code == 302
    assert operations.csv_layout().delimiter == ","
    response = client.get("/payments/export?from=2027-01-01&to=2027-12-31")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert farm["jan1"].number in response.get_data(as_text=True)
    assert client.get("/payments/export?from=2027-12-31&to=2027-01-01").status_code == 303


def test_a_member_cannot_see_payments(client, farm, auth, make_user):
    user = make_user(Role.MEMBER, member=farm["jan"])
    auth.login(user.email)
    assert client.get("/payments/").status_code == 403
    assert client.get("/payments/export?from=2027-01-01&to=2027-12-31").status_code == 403


# --- the command line ----------------------------------------------------------------------


def test_cli_import_and_export(runner, farm, tmp_path):
    path = tmp_path / "may.xml"
    path.write_bytes(camt("camt053_v02.xml", REF1=farm["jan2"].reference))
    result = runner.invoke(args=["csa", "payments", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 matched" in result.output
    result = runner.invoke(args=["csa", "payments", "import", str(path), "--format", "camt"])
    assert "3 already imported" in result.output
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<Document>")
    before = fingerprint()
    result = runner.invoke(args=["csa", "payments", "import", str(bad)])
    assert result.exit_code != 0
    assert changed_tables(before, fingerprint()) == []
    result = runner.invoke(
        args=["csa", "payments", "export", "--from", "2027-01-01", "--to", "2027-12-31"]
    )
    assert result.exit_code == 0
    assert farm["jan1"].number in result.output
    out = tmp_path / "out.csv"
    result = runner.invoke(
        args=[
            "csa",
            "payments",
            "export",
            "--from",
            "2027-01-01",
            "--to",
            "2027-12-31",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0
    assert "payment" in out.read_text()
    result = runner.invoke(args=["csa", "payments", "export", "--from", "x", "--to", "2027-12-31"])
    assert result.exit_code != 0
    assert count(PaymentAllocation) == 2


# --- the demo ------------------------------------------------------------------------------


def test_demo_payments_pay_most_invoices_through_the_import(app, db):
    from csa.payments.demo import load_demo_payments

    farm_profile()
    farm = make_farm()
    memberships = [add_member(farm, name=f"Demo Person {n}") for n in range(10)]
    _db.session.flush()
    load_demo_payments(date(2027, 6, 1), farm.season, memberships)
    assert count(Payment) == 0  # no invoices yet: nothing
    invoices = []
    for m in memberships:
        inv = make_invoice(m.member, 30000, date(2027, 5, 15))
        inv.membership_id = m.id
        invoices.append(inv)
    _db.session.flush()
    load_demo_payments(date(2027, 6, 1), farm.season, memberships)
    _db.session.commit()
    left = open_cents(invoices)
    assert sum(1 for i in invoices if left[i.id] == 0) == 8
    assert sorted(v for v in left.values() if v) == [15000, 30000]  # half paid in cash
    assert _db.session.scalar(select(func.count()).where(Payment.member_id.is_(None))) == 1
    assert _db.session.scalar(select(func.count()).where(Payment.method == PaymentMethod.CASH)) == 1
    before = count(Payment)
    load_demo_payments(date(2027, 6, 1), farm.season, memberships)
    assert count(Payment) == before
