"""Invoices: issued by the scheduler on each plan's schedule, once (gapless numbers, safe in
two processes at once), as a PDF with the EPC QR code, mailed with the PDF attached; credit
notes; the coordinators' list and the member's Money page."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import threading
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import func, select

from csa.core.banking import payment_reference
from csa.errors import FieldError
from csa.extensions import db as _db
from csa.invoices import numbering
from csa.invoices.operations import choose_plan, issue_credit_note, issue_due_invoices
from csa.invoices.pdf import invoice_pdf
from csa.jobs import JobReport, issue_invoices
from csa.models import (
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    OutboxMessage,
    PaymentPlan,
    Role,
)
from csa.money.balances import open_cents
from csa.money.profile import farm_profile
from tests.factories import add_member, make_farm
from tests.proof import fingerprint
from tests.smtp import SmtpServer

START = date(2027, 5, 1)
END = date(2027, 11, 30)
IBAN = "DE89370400440532013000"


def _farm(db, n: int = 3, plan: PaymentPlan = PaymentPlan.MONTHLY, currency: str = "EUR"):
    farm = make_farm(START, END)
    profile = farm_profile()
    profile.legal_name = "Gospodarstwo Zielone Pole"
    profile.address = "Polna 1\n00-001 Wieś"
    profile.tax_id = "PL1234567890"
    profile.iban = IBAN
    profile.bic = "COBADEFFXXX"
    profile.currency = currency
    memberships = []
    for i in range(n):
        m = add_member(farm, name=f"Household {i}")
        m.member.address = f"Street {i}\nTown"
        m.payment_plan = plan
        m.price_cents = 70000 + i  # a fixed season price
        memberships.append(m)
    db.session.commit()
    return farm, memberships


def _invoices(kind=InvoiceKind.INVOICE) -> list[Invoice]:
    return list(
        _db.session.scalars(select(Invoice).where(Invoice.kind == kind).order_by(Invoice.seq))
    )


def _count(model) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


# --- issuing -----------------------------------------------------------------------------


def test_first_instalments_are_issued_days_before_they_are_due_and_only_once(db):
    _farm(db)
    assert issue_due_invoices(START - timedelta(days=20)).issued == []  # 14 days before
    report = issue_due_invoices(START - timedelta(days=14))
    assert len(report.issued) == 3
    invoices = _invoices()
    assert [i.number for i in invoices] == ["2027-00001", "2027-00002", "2027-00003"]
    first = invoices[0]
    assert first.instalment == 1
    assert first.due_on == START
    assert first.issued_on == START - timedelta(days=14)
    assert first.total_cents == 10000  # 70000 over 7 months
    assert first.reference == payment_reference("2027-00001")
    assert first.currency == "EUR"
    assert first.buyer_name == "Household 0"
    assert first.buyer_address == "Street 0\nTown"
    assert [line.description for line in first.lines] == [
        "Season 2027, 1 × Full, instalment 1 of 7"
    ]
    # One mail per invoice, keyed by it, with the PDF to attach when it is sent.
    mails = list(_db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [m.key for m in mails] == [f"invoice/{i.id}" for i in invoices]
    assert mails[0].attachment == f"invoice:{first.id}"
    assert "2027-00001" in mails[0].subject
    assert first.reference in mails[0].body
    before = fingerprint()
    assert issue_due_invoices(START - timedelta(days=14)).issued == []
    assert issue_due_invoices(START).issued == []
    assert fingerprint() == before


def test_the_whole_season_until_a_date_and_single_plans(db):
    _farm(db, n=2, plan=PaymentPlan.SINGLE)
    report = issue_due_invoices(START - timedelta(days=30), until=END)
    assert len(report.issued) == 2
    assert [i.total_cents for i in _invoices()] == [70000, 70001]
    assert [line.description for line in _invoices()[0].lines] == ["Season 2027, 1 × Full"]


def test_monthly_instalments_add_up_to_the_season_price(db):
    _farm(db, n=2)
    issue_due_invoices(START - timedelta(days=30), until=END)
    invoices = _invoices()
    assert len(invoices) == 14
    by_membership: dict[int, int] = {}
    for inv in invoices:
        by_membership[inv.membership_id] = by_membership.get(inv.membership_id, 0) + inv.total_cents
    assert sorted(by_membership.values()) == [70000, 70001]
    assert [i.seq for i in invoices] == list(range(1, 15))


def test_a_late_invoice_gives_a_week_to_pay(db):
    _farm(db, n=1)
    issue_due_invoices(START + timedelta(days=3))
    (invoice,) = _invoices()
    assert invoice.due_on == START + timedelta(days=10)


def test_job_twice_and_the_command_issue_nothing_new(app, db, runner):
    _farm(db)
    noon = datetime.combine(START - timedelta(days=14), time(12))
    report = JobReport()
    issue_invoices(noon, report)
    assert len(report.invoices.issued) == 3
    again = JobReport()
    issue_invoices(noon, again)
    assert again.invoices.issued == []
    result = runner.invoke(args=["csa", "invoices", "issue", "--until", "2027-06-01"])
    assert result.exit_code == 0, result.output
    assert "invoices issued: 3" in result.output  # the June instalments
    result = runner.invoke(args=["csa", "invoices", "issue", "--until", "2027-06-01"])
    assert "invoices issued: 0" in result.output
    assert _count(Invoice) == 6


def test_the_command_refuses_a_bad_date_and_writes_nothing(db, runner):
    _farm(db)
    before = fingerprint()
    result = runner.invoke(args=["csa", "invoices", "issue", "--until", "31.05.2027"])
    assert result.exit_code != 0
    assert fingerprint() == before


# --- numbering -----------------------------------------------------------------------------


def test_numbers_are_per_year_and_credit_notes_share_the_sequence(db):
    _farm(db, n=1, plan=PaymentPlan.SINGLE)
    issue_due_invoices(START - timedelta(days=14))
    (invoice,) = _invoices()
    note = issue_credit_note(invoice, 500, "Broken box", date(2027, 5, 3))
    db.session.commit()
    assert note.number == "CN-2027-00002"
    assert note.seq == 2
    assert note.reference == payment_reference("CN-2027-00002")
    assert numbering.take_seq(2028) == 1
    db.session.rollback()
    assert db.session.get(InvoiceCounter, 2028) is None  # rolled back: no gap left


def test_two_transactions_at_once_take_no_number_twice_and_leave_no_gap(app, db):
    """Two threads, each with its own connection and transaction: the first holds its number
    uncommitted while the second asks; then both take many numbers at once."""
    _farm(db, n=0)
    holding = threading.Event()
    go_on = threading.Event()
    taken: dict[str, list[int]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def worker(name: str, rounds: int, hold: bool) -> None:
        try:
            with app.app_context():
                for i in range(rounds):
                    seq = numbering.take_seq(2027)
                    if hold and i == 0:
                        holding.set()
                        go_on.wait(10)
                    taken[name].append(seq)
                    _db.session.commit()
                _db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    a = threading.Thread(target=worker, args=("a", 20, True))
    a.start()
    assert holding.wait(10)
    b = threading.Thread(target=worker, args=("b", 20, False))
    b.start()
    b.join(0.5)
    assert b.is_alive()  # waits for a's transaction, which holds the counter
    assert taken["b"] == []
    go_on.set()
    a.join(60)
    b.join(60)
    assert not errors, errors
    seqs = sorted(taken["a"] + taken["b"])
    assert seqs == list(range(1, 41))
    assert taken["a"][0] == 1


def test_two_processes_issuing_at_once_issue_each_instalment_once(app, db, app_config, tmp_path):
    from tests.processes import cli_env, start_flask, stop

    _farm(db, n=12)
    db.session.commit()
    env = cli_env(app_config, tmp_path)
    procs = [
        start_flask("csa", "invoices", "issue", "--until", "2027-11-30", env=env) for _ in range(2)
    ]
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(120)
        err = stop(proc)
        assert proc.returncode == 0, err
    db.session.expire_all()
    invoices = _invoices()
    assert len(invoices) == 12 * 7
    assert sorted(i.seq for i in invoices) == list(range(1, 12 * 7 + 1))
    pairs = {(i.membership_id, i.instalment) for i in invoices}
    assert len(pairs) == len(invoices)


# --- credit notes ----------------------------------------------------------------------------


def test_a_credit_note_lowers_the_open_amount_and_cannot_exceed_the_invoice(db):
    _farm(db, n=1, plan=PaymentPlan.SINGLE)
    issue_due_invoices(START - timedelta(days=14))
    (invoice,) = _invoices()
    issue_credit_note(invoice, 20000, "Two rounds cancelled", START)
    db.session.commit()
    assert open_cents([invoice]) == {invoice.id: 50000}
    with pytest.raises(FieldError, match="exceed"):
        issue_credit_note(invoice, 50001, "Too much", START)
    db.session.rollback()
    issue_credit_note(invoice, 50000, "The rest", START)
    db.session.commit()
    assert open_cents([invoice]) == {invoice.id: 0}
    (first, second) = _invoices(InvoiceKind.CREDIT_NOTE)
    assert first.credits_id == invoice.id
    assert first.lines[0].description == "Correction of invoice 2027-00001: Two rounds cancelled"


# --- the payment plan ------------------------------------------------------------------------


def test_the_plan_may_change_until_the_first_invoice(db):
    _, (m,) = _farm(db, n=1, plan=PaymentPlan.SINGLE)
    assert choose_plan(m, "quarterly")
    db.session.commit()
    farm_profile().plans_allowed = "single,monthly"
    with pytest.raises(FieldError, match="does not offer"):
        choose_plan(m, "quarterly")
    with pytest.raises(FieldError, match="ways to pay"):
        choose_plan(m, "weekly")
    farm_profile().plans_allowed = "single,monthly,quarterly"
    issue_due_invoices(START - timedelta(days=14))
    with pytest.raises(FieldError, match="fixed"):
        choose_plan(m, "monthly")


# --- the PDF ---------------------------------------------------------------------------------


def _decode_qr(pdf: bytes, tmp_path) -> list[str]:
    import PIL.Image
    import zxingcpp

    if shutil.which("pdftoppm") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftoppm (poppler-utils) is required in CI")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")],
        check=True,
    )
    (image,) = sorted(tmp_path.glob("page*.png"))
    return [r.text for r in zxingcpp.read_barcodes(PIL.Image.open(image))]


def test_the_pdf_names_everything_and_its_qr_code_is_the_epc_payload(app, db, tmp_path):
    _farm(db, n=1)
    issue_due_invoices(START - timedelta(days=14))
    (invoice,) = _invoices()
    pdf = invoice_pdf(invoice)
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for needle in (
        "2027-00001",
        "Gospodarstwo Zielone Pole",
        "PL1234567890",
        "Household 0",
        "DE89 3704 0044 0532 0130 00",
        "COBADEFFXXX",
        invoice.reference,
        "€100.00",
        "instalment 1 of 7",
    ):
        assert needle in text, needle
    (payload,) = _decode_qr(pdf, tmp_path)
    lines = payload.split("\n")
    assert lines[:2] == ["BCD", "002"]  # its character set (line 3) is segno's choice
    assert lines[3] == "SCT"
    assert lines[4] == "COBADEFFXXX"
    assert lines[5] == "Gospodarstwo Zielone Pole"
    assert lines[6] == IBAN
    assert lines[7].startswith("EUR")
    assert Decimal(lines[7][3:]) == Decimal("100.00")
    assert lines[9] == invoice.reference


def test_a_new_bank_account_never_rewrites_an_issued_invoice(app, db):
    _farm(db, n=1)
    issue_due_invoices(START - timedelta(days=14))
    (invoice,) = _invoices()
    profile = farm_profile()
    profile.iban = "NL91ABNA0417164300"
    profile.legal_name = "Renamed Farm"
    db.session.commit()
    text = pypdf.PdfReader(io.BytesIO(invoice_pdf(invoice))).pages[0].extract_text()
    assert "DE89 3704 0044 0532 0130 00" in text
    assert "Gospodarstwo Zielone Pole" in text
    assert "NL91" not in text
    assert "Renamed Farm" not in text


def test_a_zloty_invoice_has_a_transfer_block_and_no_qr_code(app, db, tmp_path):
    _farm(db, n=1, currency="PLN")
    issue_due_invoices(START - timedelta(days=14))
    (invoice,) = _invoices()
    pdf = invoice_pdf(invoice)
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "euro transfers only" in text
    assert "PLN" in text or "zł" in text
    assert _decode_qr(pdf, tmp_path) == []


def test_a_credit_note_has_its_own_pdf(app, db):
    _farm(db, n=1, plan=PaymentPlan.SINGLE)
    issue_due_invoices(START - timedelta(days=14))
    (invoice,) = _invoices()
    note = issue_credit_note(invoice, 1234, "<b>Hail</b>", START)
    db.session.commit()
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(invoice_pdf(note))).pages)
    assert "Credit note CN-2027-00002" in text
    assert "Correcting invoice 2027-00001" in text
    assert "<b>Hail</b>" in text  # escaped, printed as typed
    assert "€12.34" in text


# --- the mail --------------------------------------------------------------------------------


@pytest.fixture
def smtp(app):
    server = SmtpServer()
    server.start()
    server.configure(app)
    yield server
    server.stop()


def test_the_mail_arrives_with_the_pdf_attached(app, db, smtp):
    from csa.notices.outbox import deliver

    _, (m,) = _farm(db, n=1)
    m.member.locale = "pl"
    db.session.commit()
    issue_due_invoices(START - timedelta(days=14))
    assert deliver().sent == 1
    (msg,) = smtp.handler.parsed()
    assert msg["To"] == m.member.email
    assert "2027-00001" in msg["Subject"]
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert payment_reference("2027-00001") in body
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "2027-00001.pdf"
    assert part.get_content_type() == "application/pdf"
    pdf = part.get_content()
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "2027-00001" in text
    assert deliver().sent == 0


# --- the pages -------------------------------------------------------------------------------


def _issued_world(db, make_user):
    """Two households on monthly plans with their first invoices; logins for A and staff."""
    _, (a, b) = _farm(db, n=2)
    b.member.name = "Bertha Other"
    db.session.commit()
    issue_due_invoices(START - timedelta(days=14))
    inv_a, inv_b = _invoices()
    users = {
        "a": make_user(Role.MEMBER, email=a.member.email, member=a.member),
        "coordinator": make_user(Role.COORDINATOR),
    }
    return a, b, inv_a, inv_b, users


def test_the_member_sees_its_own_invoices_only(app, db, client, auth, make_user):
    a, b, inv_a, inv_b, users = _issued_world(db, make_user)
    auth.login(users["a"].email)
    page = client.get("/invoices/mine")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert inv_a.number in html
    assert inv_a.reference in html
    assert "<svg" in html  # the EPC code to scan
    assert inv_b.number not in html
    assert "Bertha Other" not in html
    mine = client.get(f"/invoices/mine/{inv_a.id}.pdf")
    assert mine.status_code == 200
    assert mine.headers["Content-Type"] == "application/pdf"
    assert client.get(f"/invoices/mine/{inv_b.id}.pdf").status_code == 404
    assert client.get(f"/invoices/{inv_b.id}.pdf").status_code == 403
    assert client.get(f"/invoices/{inv_a.id}").status_code == 403


def test_the_member_chooses_a_plan_until_the_first_invoice(app, db, client, auth, make_user):
    _, (m,) = _farm(db, n=1, plan=PaymentPlan.SINGLE)
    user = make_user(Role.MEMBER, email=m.member.email, member=m.member)
    auth.login(user.email)
    page = client.get("/invoices/mine").get_data(as_text=True)
    assert f"/invoices/mine/{m.id}/plan" in page
    response = client.post(f"/invoices/mine/{m.id}/plan", data={f"m{m.id}-plan": "quarterly"})
    assert response.status_code == 302
    db.session.expire_all()
    assert m.payment_plan == PaymentPlan.QUARTERLY
    before = fingerprint()
    response = client.post(f"/invoices/mine/{m.id}/plan", data={f"m{m.id}-plan": "weekly"})
    assert response.status_code == 400
    assert fingerprint() == before
    issue_due_invoices(START - timedelta(days=14))
    assert f"/invoices/mine/{m.id}/plan" not in client.get("/invoices/mine").get_data(as_text=True)
    before = fingerprint()
    response = client.post(f"/invoices/mine/{m.id}/plan", data={f"m{m.id}-plan": "monthly"})
    assert response.status_code == 400
    assert fingerprint() == before


def test_a_member_cannot_set_another_households_plan(app, db, client, auth, make_user):
    a, b, _inv_a, _inv_b, users = _issued_world(db, make_user)
    auth.login(users["a"].email)
    assert client.post(f"/invoices/mine/{b.id}/plan", data={}).status_code == 404


def test_the_coordinator_lists_filters_and_issues_now(app, db, client, auth, make_user):
    a, b, inv_a, inv_b, users = _issued_world(db, make_user)
    auth.login(users["coordinator"].email)
    html = client.get("/invoices/").get_data(as_text=True)
    assert inv_a.number in html
    assert "Bertha Other" in html
    assert "open" in html
    issue_credit_note(inv_b, inv_b.total_cents, "Gift", START)
    db.session.commit()
    credited = client.get("/invoices/?status=credited").get_data(as_text=True)
    assert inv_b.number in credited
    assert inv_a.number not in credited
    response = client.post("/invoices/issue")
    assert response.status_code == 302
    assert _count(Invoice) == 3  # nothing more due yet (two invoices and a credit note)
    page = client.get(f"/invoices/{inv_a.id}")
    assert page.status_code == 200
    assert "Correct this invoice" in page.get_data(as_text=True)
    assert client.get(f"/invoices/{inv_a.id}.pdf").status_code == 200
    assert client.get("/invoices/plans").status_code == 200


def test_a_credit_note_from_the_form_lowers_the_open_amount(app, db, client, auth, make_user):
    a, b, inv_a, inv_b, users = _issued_world(db, make_user)
    auth.login(users["coordinator"].email)
    response = client.post(
        f"/invoices/{inv_a.id}/credit", data={"amount": "25,50", "reason": "Hail"}
    )
    assert response.status_code == 302
    (note,) = _invoices(InvoiceKind.CREDIT_NOTE)
    assert note.total_cents == 2550
    assert note.number == f"CN-{note.year}-{note.seq:05d}"  # issued today, this year
    assert open_cents([inv_a]) == {inv_a.id: 10000 - 2550}
    html = client.get(f"/invoices/{inv_a.id}").get_data(as_text=True)
    assert note.number in html


@pytest.mark.parametrize(
    "data",
    [
        {"amount": "100,01", "reason": "Too much"},  # above the invoice (100.00)
        {"amount": "0", "reason": "Zero"},
        {"amount": "ten", "reason": "Text"},
        {"amount": "-5", "reason": "Negative"},
        {"amount": "5", "reason": "   "},
        {"amount": "", "reason": "Empty"},
    ],
)
def test_bad_credit_notes_write_nothing(app, db, client, auth, make_user, data):
    a, b, inv_a, inv_b, users = _issued_world(db, make_user)
    auth.login(users["coordinator"].email)
    before = fingerprint()
    response = client.post(f"/invoices/{inv_a.id}/credit", data=data)
    assert response.status_code == 400
    assert 'class="error"' in response.get_data(as_text=True)
    assert fingerprint() == before


# --- the demo --------------------------------------------------------------------------------


def test_the_demo_invoices_follow_the_schedule(app, db):
    from csa.demo import SEASON_NAME, load_demo
    from csa.invoices.demo import load_demo_invoices
    from csa.models import Membership, Season
    from csa.rounds.lifecycle import farm_today

    load_demo()  # the demo issues the invoices due so far (csa/demo.py _load_money)
    db.session.commit()
    today = farm_today()
    season = db.session.scalar(select(Season).where(Season.name == SEASON_NAME))
    memberships = list(
        db.session.scalars(
            select(Membership).where(Membership.season_id == season.id).order_by(Membership.id)
        )
    )
    issued = len(_invoices())
    assert issued > len(memberships)  # months of instalments already
    plans = {m.payment_plan for m in memberships}
    assert plans == {PaymentPlan.SINGLE, PaymentPlan.MONTHLY, PaymentPlan.QUARTERLY}
    invoices = _invoices()
    assert [i.issued_on for i in invoices] == sorted(i.issued_on for i in invoices)
    assert all(i.issued_on <= today for i in invoices)
    by_year: dict[int, list[int]] = {}
    for inv in invoices:
        by_year.setdefault(inv.year, []).append(inv.seq)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_year.values())
    assert load_demo_invoices(today, season, memberships) == 0  # twice: nothing new
    assert issue_due_invoices(today - timedelta(days=1)).issued == []  # the job agrees


def test_nothing_is_issued_before_the_farm_names_its_bank_account(db, runner):
    _farm(db)
    farm_profile().iban = ""
    db.session.commit()
    before = fingerprint()
    assert issue_due_invoices(START - timedelta(days=14)).not_ready
    result = runner.invoke(args=["csa", "invoices", "issue"])
    assert result.exit_code != 0
    assert "IBAN" in result.output
    assert fingerprint() == before
