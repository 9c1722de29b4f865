"""Reminders: the rule (property tests), the ageing buckets, the scheduler's job (idempotent,
stopped by a hardship arrangement and by a pending direct debit, in each reader's
language) and the who-owes-what page."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from csa.models import Hardship, OutboxMessage, Reminder, Role
from csa.reminders import operations as reminders
from csa.reminders import rules
from csa.reminders.rules import InvoiceState, age, bucket, reminder_due
from csa.sepa import operations as sepa
from tests.factories import add_member, make_farm
from tests.proof import changed_tables, fingerprint
from tests.sepa_helpers import bank_details, make_invoice, make_mandate, pay

DUE = date(2027, 5, 1)

# --- the rule -------------------------------------------------------------------------------

days = st.integers(1, 60)
states = st.builds(
    InvoiceState,
    due_on=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    open_cents=st.integers(-100, 10**7),
    sent=st.frozensets(st.sampled_from(rules.LEVELS)),
    hardship=st.booleans(),
    pending_debit=st.booleans(),
)


@given(states, st.integers(-100, 400), days, days)
def test_a_reminder_is_due_only_when_the_rule_allows(state, offset, first, extra):
    second = first + extra
    today = state.due_on + timedelta(days=offset)
    level = reminder_due(state, today, first, second)
    if level is None:
        return
    assert state.open_cents > 0
    assert not state.hardship
    assert not state.pending_debit
    assert level not in state.sent
    assert all(sent < level for sent in state.sent)  # never the friendly one after the second
    assert offset >= (first if level == rules.FRIENDLY else second)


@given(states, days, days)
def test_each_level_at_most_once_over_any_run_of_days(state, first, extra):
    """Day after day, recording what was sent: one of each at most, in order."""
    second = first + extra
    sent: list[int] = []
    current = InvoiceState(state.due_on, state.open_cents, frozenset(), False, False)
    for offset in range(0, second + 5):
        level = reminder_due(current, state.due_on + timedelta(days=offset), first, second)
        if level is not None:
            sent.append(level)
            current = InvoiceState(
                current.due_on, current.open_cents, current.sent | {level}, False, False
            )
    if state.open_cents > 0:
        assert sent == [rules.FRIENDLY, rules.SECOND]
    else:
        assert sent == []


@pytest.mark.parametrize(
    ("offset", "sent", "expected"),
    [
        (9, set(), None),
        (10, set(), 1),
        (29, {1}, None),
        (30, {1}, 2),
        (45, set(), 2),  # the job did not run for weeks: only the second goes
        (45, {2}, None),
        (-3, set(), None),
    ],
)
def test_reminder_table(offset, sent, expected):
    state = InvoiceState(DUE, 100, frozenset(sent))
    assert reminder_due(state, DUE + timedelta(days=offset), 10, 30) == expected


# --- ageing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(-1, "not_due"), (0, "0_30"), (30, "0_30"), (31, "31_60"), (60, "31_60"), (61, "over_60")],
)
def test_ageing_buckets(offset, expected):
    assert bucket(DUE, DUE + timedelta(days=offset)) == expected


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(-200, 200), st.integers(1, 10**6)),
        max_size=30,
    )
)
def test_ageing_sums_add_up(amounts):
    today = DUE
    rows, totals = age(((k, DUE + timedelta(days=d), c) for k, d, c in amounts), today)
    assert sum(totals.values()) == sum(c for _k, _d, c in amounts)
    for key, row in rows.items():
        assert set(row) == set(rules.BUCKETS)
        assert sum(row.values()) == sum(c for k, _d, c in amounts if k == key)
    for b in rules.BUCKETS:
        assert totals[b] == sum(row[b] for row in rows.values())


# --- the job --------------------------------------------------------------------------------

NOW = datetime(2027, 5, 12, 6, 0)  # 11 days after DUE: the friendly reminder (10 days) is due


def _mails(db, prefix: str = "reminder/") -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.key.like(f"{prefix}%"))
            .order_by(OutboxMessage.id)
        )
    )


@pytest.fixture
def farm(db):
    return make_farm(date(2027, 4, 1), date(2027, 11, 30))


@pytest.fixture
def overdue(db, farm):
    bank_details()
    m = add_member(farm, name="Olga Overdue", email="olga@example.org")
    m.member.locale = "pl"
    invoice = make_invoice(m, 65_000, DUE)
    db.session.commit()
    return m, invoice


def test_the_job_sends_each_reminder_once(db, overdue):
    m, invoice = overdue
    today = NOW.date()
    assert reminders.send_due(NOW, today) == 1
    assert reminders.send_due(NOW, today) == 0  # the same day again
    assert reminders.send_due(NOW, today + timedelta(days=5)) == 0
    [friendly] = _mails(db)
    assert friendly.key == f"reminder/{invoice.id}/1"
    assert friendly.to == "olga@example.org"
    second_day = DUE + timedelta(days=30)
    assert reminders.send_due(NOW, second_day) == 1
    assert reminders.send_due(NOW, second_day + timedelta(days=40)) == 0
    keys = [r.key for r in _mails(db)]
    assert keys == [f"reminder/{invoice.id}/1", f"reminder/{invoice.id}/2"]
    levels = db.session.scalars(select(Reminder.level).order_by(Reminder.level)).all()
    assert levels == [1, 2]


def test_the_scheduler_runs_the_job_and_a_second_run_sends_nothing(app, db, overdue):
    from csa.jobs import run_due_jobs

    report = run_due_jobs(NOW, holder="test")
    assert report.reminders == 1
    assert "payment reminders: 1" in str(report)
    again = run_due_jobs(NOW + timedelta(minutes=5), holder="test")
    assert again.reminders == 0
    assert len(_mails(db)) == 1


def test_the_mail_names_the_invoice_amount_due_date_iban_and_reference_in_the_readers_language(
    db, overdue, make_user
):
    m, invoice = overdue
    # A co-member reading English, besides the household's Polish contact address.
    partner = make_user(Role.MEMBER, email="partner@example.org", member=m.member)
    partner.locale = "en"
    db.session.commit()
    reminders.send_due(NOW, NOW.date())
    mails = {r.to: r for r in _mails(db)}
    polish, english = mails["olga@example.org"], mails["partner@example.org"]
    assert english.key == f"reminder/{invoice.id}/1/user{partner.id}"
    for row in (polish, english):
        assert invoice.number in row.subject
        assert invoice.number in row.body
        assert invoice.reference in row.body
        assert "DE02 1005 0000 0024 2906 61" in row.body
    assert "May 1, 2027" in english.body
    assert "€650.00" in english.body
    assert "friendly reminder" in english.body.lower()
    # The Polish reader gets the date and the amount the Polish way.
    assert "maja 2027" in polish.body
    assert "650,00" in polish.body
    reminders.send_due(NOW, DUE + timedelta(days=30))
    second = next(r for r in _mails(db) if r.key == f"reminder/{invoice.id}/2/user{partner.id}")
    assert "Second reminder" in second.subject
    assert "within the next ten days" in second.body


def test_no_reminder_once_paid(db, overdue):
    m, invoice = overdue
    pay(invoice, 65_000, DUE)
    db.session.commit()
    assert reminders.send_due(NOW, NOW.date()) == 0


def test_a_hardship_arrangement_stops_reminders_until_it_ends(db, overdue):
    m, invoice = overdue
    today = NOW.date()
    reminders.mark_hardship(m.member, note="lost job", until=None, by=None, today=today)
    db.session.commit()
    assert reminders.send_due(NOW, today) == 0
    assert reminders.send_due(NOW, today + timedelta(days=40)) == 0
    reminders.end_hardship(m.member, today + timedelta(days=40))
    db.session.commit()
    assert reminders.send_due(NOW, today + timedelta(days=40)) == 0  # ends at the end of that day
    assert reminders.send_due(NOW, today + timedelta(days=41)) == 1
    assert [r.key for r in _mails(db)] == [f"reminder/{invoice.id}/2"]


def test_a_pending_direct_debit_stops_reminders(db, overdue):
    m, invoice = overdue
    make_mandate(m, today=date(2027, 4, 1))
    batch = sepa.export_batch(
        collect_on=date(2027, 5, 14),
        due_until=DUE,
        due_from=None,
        by=None,
        today=date(2027, 5, 10),
    )
    db.session.commit()
    assert reminders.send_due(NOW, NOW.date()) == 0
    sepa.return_batch(batch, NOW.date())  # the bank refused it: the reminder goes
    db.session.commit()
    assert reminders.send_due(NOW, NOW.date()) == 1


# --- who owes what --------------------------------------------------------------------------


@pytest.fixture
def staff(make_user, auth):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    return user


def test_who_owes_what_ages_the_open_amounts(db, client, staff):
    farm = make_farm(date(2027, 4, 1), date(2027, 11, 30))
    today = date.today()
    a = add_member(farm, name="Aged Anna")
    b = add_member(farm, name="Paid Paul")
    make_invoice(a, 10_000, today - timedelta(days=5))
    make_invoice(a, 20_000, today - timedelta(days=45))
    make_invoice(a, 40_000, today - timedelta(days=90))
    make_invoice(a, 80_000, today + timedelta(days=10))
    paid = make_invoice(b, 30_000, today - timedelta(days=90))
    pay(paid, 30_000, today)
    db.session.commit()
    html = client.get("/reminders/").get_data(as_text=True)
    assert "Aged Anna" in html
    assert "Paid Paul" not in html
    for amount in ("€100.00", "€200.00", "€400.00", "€800.00", "€1,500.00"):
        assert amount in html


def test_marking_and_ending_a_hardship_arrangement_on_the_page(db, client, staff):
    farm = make_farm(date(2027, 4, 1), date(2027, 11, 30))
    m = add_member(farm, name="Hard Harry")
    make_invoice(m, 10_000, date.today() - timedelta(days=40))
    bank_details()  # the profile row exists (its first read writes it)
    db.session.commit()
    before = fingerprint()
    bad = client.post(
        f"/reminders/households/{m.member_id}/hardship", data={"note": "x", "until": "2001-01-01"}
    )
    assert bad.status_code == 400
    assert "cannot end before today" in bad.get_data(as_text=True)
    assert changed_tables(before, fingerprint()) == []
    ok = client.post(
        f"/reminders/households/{m.member_id}/hardship", data={"note": "pays in autumn"}
    )
    assert ok.status_code == 303
    html = client.get("/reminders/").get_data(as_text=True)
    assert "pays in autumn" in html
    assert "End the arrangement" in html
    assert client.post(f"/reminders/households/{m.member_id}/hardship/end").status_code == 303
    row = db.session.scalar(select(Hardship))
    assert row.ends_on == date.today()
    assert int(db.session.scalar(select(func.count()).select_from(Hardship))) == 1


def test_members_may_not_open_who_owes_what(db, client, auth, make_user):
    farm = make_farm()
    m = add_member(farm)
    db.session.commit()
    user = make_user(Role.MEMBER, member=m.member)
    auth.login(user.email)
    assert client.get("/reminders/").status_code == 403


def test_an_invoice_that_fails_is_rolled_back_and_logged_and_the_others_go_on(
    db, farm, overdue, caplog
):
    from sqlalchemy import event

    m, invoice = overdue
    other = make_invoice(add_member(farm, name="Otto Other"), 10_000, DUE)
    db.session.commit()

    def refuse(_mapper, _connection, target):  # a fault in the database, for one invoice
        if target.invoice_id == invoice.id:
            raise RuntimeError("disk full")

    event.listen(Reminder, "before_insert", refuse)
    try:
        assert reminders.send_due(NOW, NOW.date()) == 1
    finally:
        event.remove(Reminder, "before_insert", refuse)
    assert "failed; the next run retries" in caplog.text
    assert [r.key for r in _mails(db)] == [f"reminder/{other.id}/1"]
    assert reminders.send_due(NOW, NOW.date()) == 1  # the next run sends the one that failed
    assert {r.key for r in _mails(db)} == {f"reminder/{other.id}/1", f"reminder/{invoice.id}/1"}
