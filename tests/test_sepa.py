"""SEPA direct debits: mandates checked before anything is stored, the pain.008 file's
content, no invoice exported twice, a collected batch settling its invoices once, the CLI,
and a member seeing only its own mandate."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import func, select

from csa.models import (
    DebitBatch,
    DebitItem,
    Mandate,
    MandateKind,
    Payment,
    PaymentMethod,
    Role,
)
from csa.money.balances import open_cents
from csa.money.profile import farm_profile
from csa.sepa import operations as sepa
from csa.sepa import rules
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint
from tests.sepa_helpers import (
    BAD_IBAN,
    CREDITOR_ID,
    FARM_IBAN,
    IBANS,
    bank_details,
    make_invoice,
    make_mandate,
    pay,
)

TODAY = date(2027, 6, 1)
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}


def _count(db, model) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)))


# --- the pure rules ---------------------------------------------------------------------


def test_sequence_types():
    assert rules.sequence_type(False, None) == "FRST"
    assert rules.sequence_type(False, date(2027, 1, 1)) == "RCUR"
    assert rules.sequence_type(True, None) == "OOFF"
    assert rules.sequence_type(True, date(2027, 1, 1)) is None  # spent


def test_masked_iban_shows_only_country_and_last_digits():
    assert rules.mask_iban("DE89370400440532013000") == "DE89 … 3000"
    assert "0532" not in rules.mask_iban("DE89370400440532013000")


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)))
def test_earliest_collection_is_a_weekday_after_today(today):
    day = rules.earliest_collection(today)
    assert day > today
    assert day.weekday() < 5
    assert (day - today).days <= 4


@pytest.mark.parametrize(
    ("text", "ok"),
    [("CSA-12-1", True), ("MANDATE 2027/04", True), ("", False), ("x" * 36, False), ("a<b", False)],
)
def test_mandate_references(text, ok):
    assert rules.valid_reference(text) is ok


# --- mandates -------------------------------------------------------------------------------


@pytest.fixture
def coordinator(make_user, auth):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def test_a_wrong_iban_checksum_is_refused_and_nothing_is_written(db, client, coordinator):
    farm = make_farm()
    m = add_member(farm, name="Iris Iban")
    db.session.commit()
    before = fingerprint()
    response = client.post(
        "/sepa/mandates/new",
        data={
            "member": m.member_id,
            "holder_name": "Iris Iban",
            "iban": BAD_IBAN,
            "signed_on": "2026-04-01",
            "kind": "recurring",
        },
    )
    assert response.status_code == 400
    assert "This IBAN is not valid: check its digits." in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []
    assert _count(db, Mandate) == 0


def test_a_mandate_is_recorded_with_a_generated_reference(db, client, coordinator):
    farm = make_farm()
    m = add_member(farm, name="Mia Mandate")
    db.session.commit()
    response = client.post(
        "/sepa/mandates/new",
        data={
            "member": m.member_id,
            "holder_name": "Mia Mandate",
            "iban": "de89 3704 0044 0532 0130 00",
            "bic": "",
            "signed_on": "2026-04-01",
            "kind": "recurring",
        },
    )
    assert response.status_code == 303
    mandate = db.session.scalar(select(Mandate))
    assert mandate.iban == "DE89370400440532013000"
    assert mandate.reference == f"CSA-{m.member_id}-1"
    assert mandate.first_collected_on is None
    page = client.get("/sepa/").get_data(as_text=True)
    assert "Mia Mandate" in page
    assert "DE89 … 3000" in page


def test_a_second_active_mandate_and_a_bad_bic_are_refused(db, coordinator):
    farm = make_farm()
    m = add_member(farm)
    first = make_mandate(m)
    from csa.errors import FieldError

    with pytest.raises(FieldError) as exc:
        make_mandate(m, IBANS["nl"])
    assert exc.value.field == "member"
    sepa.revoke_mandate(first, TODAY)
    with pytest.raises(FieldError) as exc:
        make_mandate(m, IBANS["nl"], bic="NOTABIC!")
    assert exc.value.field == "bic"
    second = make_mandate(m, IBANS["nl"])
    assert second.reference == f"CSA-{m.member_id}-2"


def test_a_member_sees_only_its_own_mandate(db, client, auth, make_user):
    farm = make_farm()
    a = add_member(farm, name="Ada Own")
    b = add_member(farm, name="Bea Other")
    make_mandate(a, IBANS["de"])
    make_mandate(b, IBANS["nl"])
    db.session.commit()
    user = make_user(Role.MEMBER, member=a.member)
    auth.login(user.email)
    page = client.get("/sepa/mine").get_data(as_text=True)
    assert f"CSA-{a.member_id}-1" in page
    assert "DE89 … 3000" in page
    assert "370400440532013000" not in page  # the account is masked
    assert f"CSA-{b.member_id}-1" not in page
    assert "Bea Other" not in page
    assert "NL91" not in page
    assert client.get("/sepa/").status_code == 403


# --- the pain.008 file ------------------------------------------------------------------------


def _world(db):
    """Four households: fresh recurring mandate (two invoices, one partly paid), recurring
    mandate in use, one-off mandate (two invoices: only one goes), and one without."""
    farm = make_farm(date(2027, 4, 1), date(2027, 11, 30))
    bank_details()
    fresh, used, once, none = (add_member(farm, name=n) for n in ("Fresh", "Used", "Once", "None"))
    m_fresh = make_mandate(fresh, IBANS["de"], today=TODAY)
    m_used = make_mandate(used, IBANS["nl"], bic="ABNANL2A", today=TODAY)
    m_used.first_collected_on = date(2027, 5, 3)
    m_once = make_mandate(once, IBANS["at"], kind=MandateKind.ONE_OFF, today=TODAY)
    make_mandate(none, IBANS["fr"], today=TODAY).revoked_on = date(2027, 5, 1)
    inv = {
        "fresh1": make_invoice(fresh, 32_500, date(2027, 5, 1)),
        "fresh2": make_invoice(fresh, 32_500, date(2027, 6, 1)),
        "used": make_invoice(used, 12_345, date(2027, 5, 15)),
        "once1": make_invoice(once, 65_000, date(2027, 5, 1)),
        "once2": make_invoice(once, 65_000, date(2027, 6, 1)),
        "none": make_invoice(none, 10_000, date(2027, 5, 1)),
        "later": make_invoice(fresh, 32_500, date(2027, 7, 1)),  # due after the window
        "paid": make_invoice(used, 5_000, date(2027, 5, 20)),
    }
    pay(inv["fresh1"], 2_500, date(2027, 5, 2))  # 300.00 left
    pay(inv["paid"], 5_000, date(2027, 5, 20))  # nothing left
    db.session.commit()
    return inv, {"fresh": m_fresh, "used": m_used, "once": m_once}


def _transactions(xml: bytes) -> dict[str, dict[str, str]]:
    root = etree.fromstring(xml)
    found = {}
    for info in root.iterfind(".//p:PmtInf", NS):
        seq = info.findtext("p:PmtTpInf/p:SeqTp", namespaces=NS)
        for tx in info.iterfind("p:DrctDbtTxInf", NS):
            e2e = tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS)
            found[e2e] = {
                "seq": seq,
                "amount": tx.findtext("p:InstdAmt", namespaces=NS),
                "currency": tx.find("p:InstdAmt", NS).get("Ccy"),
                "mandate": tx.findtext("p:DrctDbtTx/p:MndtRltdInf/p:MndtId", namespaces=NS),
                "signed": tx.findtext("p:DrctDbtTx/p:MndtRltdInf/p:DtOfSgntr", namespaces=NS),
                "iban": tx.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS),
                "bic": tx.findtext("p:DbtrAgt/p:FinInstnId/p:BIC", namespaces=NS) or "",
                "remittance": tx.findtext("p:RmtInf/p:Ustrd", namespaces=NS),
            }
    return found


def test_the_pain008_file_holds_each_open_amount_once(db):
    inv, mandates = _world(db)
    collect = date(2027, 6, 4)
    batch = sepa.export_batch(
        collect_on=collect, due_until=date(2027, 6, 1), due_from=None, by=None, today=TODAY
    )
    db.session.commit()
    assert batch is not None
    xml = batch.xml.encode("utf-8")
    root = etree.fromstring(xml)
    # The schema the bank reads, as sepaxml bundles it.
    assert sepa._schema().is_valid(batch.xml)
    assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.008.001.02}Document"
    tx = _transactions(xml)
    r = {k: v.reference for k, v in inv.items()}
    assert set(tx) == {r["fresh1"], r["fresh2"], r["used"], r["once1"]}
    assert tx[r["fresh1"]]["amount"] == "300.00"  # what is still open, not the total
    assert tx[r["fresh2"]]["amount"] == "325.00"
    assert tx[r["used"]]["amount"] == "123.45"
    assert tx[r["once1"]]["amount"] == "650.00"
    assert {t["currency"] for t in tx.values()} == {"EUR"}
    assert tx[r["fresh1"]]["seq"] == tx[r["fresh2"]]["seq"] == "FRST"
    assert tx[r["used"]]["seq"] == "RCUR"
    assert tx[r["once1"]]["seq"] == "OOFF"
    assert tx[r["fresh1"]]["mandate"] == mandates["fresh"].reference
    assert tx[r["used"]]["mandate"] == mandates["used"].reference
    assert tx[r["fresh1"]]["signed"] == "2026-01-15"
    assert tx[r["fresh1"]]["iban"] == IBANS["de"]
    assert tx[r["used"]]["iban"] == IBANS["nl"]
    assert tx[r["used"]]["bic"] == "ABNANL2A"
    assert inv["fresh1"].number in tx[r["fresh1"]]["remittance"]
    assert r["fresh1"] in tx[r["fresh1"]]["remittance"]
    # Control sums: the header's and each payment block's equal the sum of their amounts.
    amounts = [Decimal(t["amount"]) for t in tx.values()]
    header = root.find("p:CstmrDrctDbtInitn/p:GrpHdr", NS)
    assert Decimal(header.findtext("p:CtrlSum", namespaces=NS)) == sum(amounts)
    assert header.findtext("p:NbOfTxs", namespaces=NS) == "4"
    assert header.findtext("p:MsgId", namespaces=NS) == batch.message_id
    for info in root.iterfind(".//p:PmtInf", NS):
        inside = [Decimal(a.text) for a in info.iterfind("p:DrctDbtTxInf/p:InstdAmt", NS)]
        assert Decimal(info.findtext("p:CtrlSum", namespaces=NS)) == sum(inside)
        assert info.findtext("p:ReqdColltnDt", namespaces=NS) == collect.isoformat()
        assert info.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == FARM_IBAN
        assert info.findtext("p:CdtrAgt/p:FinInstnId/p:BIC", namespaces=NS) == "BELADEBEXXX"
        assert info.findtext(".//p:CdtrSchmeId//p:Othr/p:Id", namespaces=NS) == CREDITOR_ID
        assert info.findtext("p:Cdtr/p:Nm", namespaces=NS) == farm_profile().legal_name
    assert batch.total_cents == 30_000 + 32_500 + 12_345 + 65_000
    assert batch.count == 4
    # The mandates used for the first time say RCUR (or are spent) from now on.
    db.session.refresh(mandates["fresh"])
    assert mandates["fresh"].first_collected_on == collect
    assert mandates["once"].first_collected_on == collect
    assert mandates["used"].first_collected_on == date(2027, 5, 3)


def test_the_window_from_a_date(db):
    inv, _m = _world(db)
    batch = sepa.export_batch(
        collect_on=date(2027, 6, 4),
        due_until=date(2027, 6, 1),
        due_from=date(2027, 5, 10),
        by=None,
        today=TODAY,
    )
    assert batch is not None
    # The one-off mandate's only collection is its first invoice in the window.
    assert set(_transactions(batch.xml.encode())) == {
        inv["fresh2"].reference,
        inv["used"].reference,
        inv["once2"].reference,
    }


def test_no_invoice_is_exported_twice_until_its_batch_is_returned(db, client, make_user, auth):
    inv, mandates = _world(db)
    args = {"collect_on": date(2027, 6, 4), "due_until": date(2027, 6, 1), "due_from": None}
    first = sepa.export_batch(**args, by=None, today=TODAY)
    db.session.commit()
    assert sepa.export_batch(**args, by=None, today=TODAY) is None
    # Later invoices go in a new batch, the first ones stay out; the mandate is RCUR now.
    second = sepa.export_batch(
        collect_on=date(2027, 7, 5), due_until=date(2027, 7, 1), due_from=None, by=None, today=TODAY
    )
    db.session.commit()
    assert set(_transactions(second.xml.encode())) == {inv["later"].reference}
    assert _transactions(second.xml.encode())[inv["later"].reference]["seq"] == "RCUR"
    # The web: the same again says "nothing new", and the first file downloads unchanged.
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    response = client.post(
        "/sepa/export", data={"collect_on": "2027-06-04", "due_until": "2027-06-01"}
    )
    assert response.status_code == 303
    assert "Nothing new to collect" in client.get("/sepa/").get_data(as_text=True)
    assert client.get(f"/sepa/batches/{first.id}.xml").data == first.xml.encode()
    assert _count(db, DebitBatch) == 2
    # Returned by the bank: its invoices go into the next export, first collections again.
    assert client.post(f"/sepa/batches/{first.id}/return").status_code == 303
    db.session.expire_all()
    assert mandates["once"].first_collected_on is None
    again = sepa.export_batch(**args, by=None, today=TODAY)
    tx = _transactions(again.xml.encode())
    assert set(tx) == set(_transactions(first.xml.encode()))
    assert tx[inv["once1"].reference]["seq"] == "OOFF"


def test_the_web_export_downloads_the_file(db, client, coordinator):
    inv, _m = _world(db)
    response = client.post(
        "/sepa/export", data={"collect_on": "2027-06-04", "due_until": "2027-06-01"}
    )
    # farm_today is the real today: collection dates in 2027 lie ahead of it.
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert "attachment" in response.headers["Content-Disposition"]
    assert inv["fresh1"].reference.encode() in response.data
    assert _count(db, DebitItem) == 4


def test_missing_bank_details_say_what_is_missing_and_write_nothing(db, client, coordinator):
    farm = make_farm()
    m = add_member(farm)
    make_mandate(m)
    make_invoice(m, 10_000, date(2027, 5, 1))
    farm_profile().legal_name = "Test Farm"
    db.session.commit()
    before = fingerprint()
    response = client.post(
        "/sepa/export", data={"collect_on": "2027-06-04", "due_until": "2027-06-01"}
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "SEPA creditor identifier" in text
    assert "BIC" in text
    assert changed_tables(before, fingerprint()) == []


def test_a_collection_date_in_the_past_is_refused(db, client, coordinator):
    _world(db)
    before = fingerprint()
    response = client.post(
        "/sepa/export", data={"collect_on": "2020-06-04", "due_until": "2027-06-01"}
    )
    assert response.status_code == 400
    assert "must be after today" in response.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []


# --- collected ------------------------------------------------------------------------------


def test_a_collected_batch_settles_its_invoices_once(db, client, make_user, auth):
    inv, _m = _world(db)
    batch = sepa.export_batch(
        collect_on=date(2027, 6, 4), due_until=date(2027, 6, 1), due_from=None, by=None, today=TODAY
    )
    db.session.commit()
    with pytest.raises(sepa.ValidationFailed):  # not before the bank's day
        sepa.collect_batch(batch, None, date(2027, 6, 3))
    assert sepa.collect_batch(batch, None, date(2027, 6, 5)) == 4
    db.session.commit()
    assert sepa.collect_batch(batch, None, date(2027, 6, 6)) == 0
    db.session.commit()
    payments = list(
        db.session.scalars(select(Payment).where(Payment.method == PaymentMethod.DIRECT_DEBIT))
    )
    assert len(payments) == 4
    assert {p.booked_on for p in payments} == {date(2027, 6, 4)}
    assert sum(p.amount_cents for p in payments) == batch.total_cents
    owed = open_cents(inv.values())
    for key in ("fresh1", "fresh2", "used", "once1"):
        assert owed[inv[key].id] == 0, key
    assert owed[inv["once2"].id] == 65_000
    assert owed[inv["none"].id] == 10_000
    with pytest.raises(sepa.ValidationFailed):
        sepa.return_batch(batch, date(2027, 6, 6))
    # The button again: nothing changes.
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    assert client.post(f"/sepa/batches/{batch.id}/collect").status_code == 303
    assert _count(db, Payment) == 4 + 2  # and the two transfers of _world
    assert "collected already" in client.get("/sepa/").get_data(as_text=True)


def test_a_debit_beyond_what_is_open_leaves_the_rest_unallocated(db):
    inv, _m = _world(db)
    batch = sepa.export_batch(
        collect_on=date(2027, 6, 4), due_until=date(2027, 6, 1), due_from=None, by=None, today=TODAY
    )
    pay(inv["used"], 12_345, date(2027, 6, 2))  # paid by transfer meanwhile
    sepa.collect_batch(batch, None, date(2027, 6, 4))
    db.session.commit()
    item = db.session.scalar(select(DebitItem).where(DebitItem.invoice_id == inv["used"].id))
    payment = db.session.get(Payment, item.payment_id)
    assert payment.amount_cents == 12_345
    assert payment.allocations == []
    assert open_cents([inv["used"]])[inv["used"].id] == 0


# --- the command line -----------------------------------------------------------------------


def test_cli_export(db, runner, tmp_path):
    inv, _m = _world(db)
    out = tmp_path / "debits.xml"
    ahead = (date.today() + timedelta(days=10)).isoformat()
    bad = runner.invoke(args=["csa", "sepa", "export", "--until", "2027-13-01", "--out", str(out)])
    assert bad.exit_code != 0
    assert "YYYY-MM-DD" in bad.output
    past = runner.invoke(
        args=[
            "csa",
            "sepa",
            "export",
            "--until",
            "2027-06-01",
            "--out",
            str(out),
            "--collect-on",
            "2020-01-06",
        ]
    )
    assert past.exit_code != 0
    assert not out.exists()
    assert _count(db, DebitBatch) == 0
    done = runner.invoke(
        args=[
            "csa",
            "sepa",
            "export",
            "--until",
            "2027-06-01",
            "--collect-on",
            ahead,
            "--out",
            str(out),
        ]
    )
    assert done.exit_code == 0, done.output
    assert "4 direct debits" in done.output
    assert set(_transactions(out.read_bytes())) >= {inv["fresh1"].reference}
    out.unlink()
    again = runner.invoke(
        args=[
            "csa",
            "sepa",
            "export",
            "--until",
            "2027-06-01",
            "--collect-on",
            ahead,
            "--out",
            str(out),
        ]
    )
    assert again.exit_code == 0
    assert "Nothing new" in again.output
    assert not out.exists()
    assert _count(db, DebitBatch) == 1


# --- privacy ----------------------------------------------------------------------------------


def test_the_household_download_holds_its_mandates_and_anonymising_removes_holder_and_account(
    db,
):
    from sqlalchemy import String, Text

    from csa.extensions import db as _db
    from csa.privacy.export import gather, household_zip
    from csa.privacy.operations import anonymise
    from csa.reminders.operations import mark_hardship

    farm = make_farm(date(2025, 4, 1), date(2025, 11, 30))
    bank_details()
    m = add_member(farm, name="Zoë Zahlerin", email="zoe@example.org")
    mandate = make_mandate(m, IBANS["de"], signed_on=date(2025, 3, 1), today=date(2025, 4, 1))
    invoice = make_invoice(m, 32_500, date(2025, 5, 1))
    batch = sepa.export_batch(
        collect_on=date(2025, 5, 6),
        due_until=date(2025, 5, 1),
        due_from=None,
        by=None,
        today=date(2025, 5, 2),
    )
    mark_hardship(m.member, note="Zoë lost her job", until=None, by=None, today=date(2025, 6, 1))
    db.session.commit()
    assert "Zoe Zahlerin" in batch.xml  # sepaxml writes names in ASCII
    rows = gather(m.member)["mandates"]
    assert {r["reference"] for r in rows} == {mandate.reference}
    assert IBANS["de"] in {r["iban"] for r in rows}
    assert invoice.number in {r["invoice"] for r in rows}
    assert b"mandates" in household_zip(m.member)
    anonymise(m.member, None, date(2026, 1, 10))
    db.session.commit()
    db.session.expire_all()
    needles = ["Zahlerin", IBANS["de"], "lost her job"]
    found = []
    with _db.engine.connect() as conn:
        for table in _db.metadata.sorted_tables:
            if table.name == "invoice":
                continue  # an issued invoice keeps its buyer (csa/invoices: never changed)
            for column in table.columns:
                if isinstance(column.type, String | Text):
                    for (value,) in conn.execute(select(column)):
                        found += [
                            f"{table.name}.{column.name}" for n in needles if value and n in value
                        ]
    assert found == []
    kept = db.session.get(Mandate, mandate.id)
    assert kept.reference == mandate.reference
    assert kept.iban == "DE89 … 3000"
    assert kept.signed_on == mandate.signed_on
