"""Work days and site duty end to end through the web: sign-ups (the last slot taken once),
cancelling before the deadline, attendance into the ledger, hours given and bought out (a
line on the next invoice), the reminder and the call through the real SMTP server, the
calendar feed, the pickup list, and one household never touching another's sign-up."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from csa.core.clock import utcnow
from csa.errors import ValidationFailed
from csa.extensions import db as _db
from csa.models import (
    Invoice,
    Membership,
    Role,
    Round,
    User,
    WorkBuyout,
    WorkJob,
    WorkRequirement,
    WorkSettings,
    WorkSignup,
    WorkSignupState,
    WorkTransfer,
)
from csa.rounds.lifecycle import farm_today
from csa.work import notices, operations, queries
from tests.factories import add_member, make_farm
from tests.smtp import SmtpServer
from tests.test_sheets import text_of


@pytest.fixture
def farm(app, db):
    today = farm_today()
    farm = make_farm(today - timedelta(days=40), today + timedelta(days=150))
    db.session.add(WorkRequirement(share_type_id=farm.full.id, minutes=600))
    db.session.add(
        WorkSettings(buyout_rate_cents=2000, currency="EUR", call_days_before=5, reminder_hours=48)
    )
    db.session.commit()
    return farm


@pytest.fixture
def people(farm, make_user):
    a = add_member(farm, name="Anna Alder", email="anna@example.org")
    b = add_member(farm, name="Bruno <b>Birch</b>", email="bruno@example.org")
    _db.session.commit()
    return {
        "a": a,
        "b": b,
        "user_a": make_user(Role.MEMBER, email="anna@example.org", member=a.member),
        "user_b": make_user(Role.MEMBER, email="bruno@example.org", member=b.member),
        "farmer": make_user(Role.FARMER, email="farmer@example.org"),
    }


def _job(title="Weeding", days=10, slots=3, minutes=180, **kw) -> WorkJob:
    start = utcnow().replace(second=0, microsecond=0) + timedelta(days=days)
    job = WorkJob(
        title=title,
        place="Field 3",
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        slots=slots,
        taken=0,
        minutes=minutes,
        **kw,
    )
    _db.session.add(job)
    _db.session.commit()
    return job


def _signups(job_id: int) -> int:
    return _db.session.scalar(select(func.count(WorkSignup.id)).where(WorkSignup.job_id == job_id))


def _as(client, auth, email):
    auth.logout()
    auth.login(email)
    return client


def test_a_farmer_posts_a_job_and_a_member_signs_up(app, client, auth, people):
    auth.login("farmer@example.org")
    day = (farm_today() + timedelta(days=9)).isoformat()
    response = client.post(
        "/work/jobs/new",
        data={
            "title": "Planting <garlic>",
            "description": "Bring gloves",
            "place": "Field 2",
            "day": day,
            "starts": "09:00",
            "ends": "12:30",
            "slots": "2",
            "hours": "3,5",
        },
    )
    assert response.status_code == 303
    job = _db.session.scalar(select(WorkJob))
    assert job.minutes == 210
    assert job.slots == 2
    html = client.get("/work/").get_data(as_text=True)
    assert "Planting &lt;garlic&gt;" in html

    _as(client, auth, "anna@example.org")
    page = client.get("/work/mine").get_data(as_text=True)
    assert "Planting &lt;garlic&gt;" in page
    assert client.post(f"/work/mine/jobs/{job.id}/signup").status_code == 303
    _db.session.expire_all()
    assert job.taken == 1
    assert _signups(job.id) == 1
    # Twice is refused with a message, and nothing more is written.
    again = client.post(f"/work/mine/jobs/{job.id}/signup")
    assert again.status_code == 400
    assert "already signed up" in again.get_data(as_text=True)
    _db.session.expire_all()
    assert job.taken == 1
    assert _signups(job.id) == 1


def test_a_job_without_a_day_or_hours_is_refused_with_a_message(app, client, auth, people):
    auth.login("farmer@example.org")
    response = client.post("/work/jobs/new", data={"title": "Odd", "slots": "1", "hours": "x"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Give the day and the hours of the job." in text
    assert "Enter hours like 2 or 2,5" in text
    assert _db.session.scalar(select(func.count(WorkJob.id))) == 0


def test_the_full_job_is_refused_with_a_clear_message_and_nothing_written(
    app, client, auth, people
):
    job = _job(slots=1)
    auth.login("anna@example.org")
    assert client.post(f"/work/mine/jobs/{job.id}/signup").status_code == 303
    _as(client, auth, "bruno@example.org")
    response = client.post(f"/work/mine/jobs/{job.id}/signup")
    assert response.status_code == 400
    assert "This job is full" in response.get_data(as_text=True)
    _db.session.expire_all()
    assert job.taken == 1
    assert _signups(job.id) == 1


def test_two_households_taking_the_last_slot_at_once_one_wins(app, people):
    """The slot is taken in the database, not from what a request read before: another
    request takes the last slot between this one's read and its write, and this one loses
    with a message and writes nothing."""
    job = _job(slots=1)
    ids = (job.id, people["a"].id, people["user_a"].id)
    stale = _db.session.get(WorkJob, job.id)
    assert stale.taken == 0  # this request read a free slot ...

    def other_request() -> None:
        with app.app_context():
            found = _db.session.get(WorkJob, ids[0])
            operations.sign_up(
                found, _db.session.get(Membership, ids[1]), _db.session.get(User, ids[2])
            )
            _db.session.commit()
            _db.session.remove()

    thread = threading.Thread(target=other_request)
    thread.start()
    thread.join()
    assert stale.taken == 0  # ... and still believes it free
    with pytest.raises(ValidationFailed, match="full"):
        operations.sign_up(stale, people["b"], people["user_b"])
    _db.session.rollback()
    assert _signups(job.id) == 1
    assert _db.session.get(WorkJob, job.id).taken == 1


def test_cancel_before_the_deadline_and_not_after(app, client, auth, people):
    job = _job()
    late = _job(title="Late", signup_deadline=utcnow() - timedelta(hours=1))
    _db.session.add(
        WorkSignup(job_id=late.id, membership_id=people["a"].id, state=WorkSignupState.SIGNED)
    )
    late.taken = 1
    _db.session.commit()
    auth.login("anna@example.org")
    assert client.post(f"/work/mine/jobs/{job.id}/signup").status_code == 303
    assert client.post(f"/work/mine/jobs/{job.id}/cancel").status_code == 303
    _db.session.expire_all()
    assert job.taken == 0
    assert _signups(job.id) == 0

    refused = client.post(f"/work/mine/jobs/{late.id}/cancel")
    assert refused.status_code == 400
    assert "The deadline to cancel has passed" in refused.get_data(as_text=True)
    _db.session.expire_all()
    assert late.taken == 1
    assert _signups(late.id) == 1
    # Nor may anyone sign up after it.
    _as(client, auth, "bruno@example.org")
    closed = client.post(f"/work/mine/jobs/{late.id}/signup")
    assert closed.status_code == 400
    assert "The sign-up for this job has closed." in closed.get_data(as_text=True)


def test_attendance_confirmed_fills_the_ledger(app, client, auth, people):
    job = _job()
    operations.sign_up(job, people["a"], people["user_a"])
    _db.session.commit()
    signup = _db.session.scalar(select(WorkSignup))
    auth.login("anna@example.org")
    assert "Signed up, not yet confirmed" in client.get("/work/mine").get_data(as_text=True)
    _as(client, auth, "farmer@example.org")
    response = client.post(
        f"/work/signups/{signup.id}/confirm", data={"came": "yes", "hours": "2,5"}
    )
    assert response.status_code == 303
    ledger = queries.ledger_of(people["a"])
    assert (ledger.required, ledger.done, ledger.owed) == (600, 150, 450)
    _as(client, auth, "anna@example.org")
    page = client.get("/work/mine").get_data(as_text=True)
    assert "<dd>2.5 h</dd>" in page
    assert '<dd class="owed">7.5 h</dd>' in page


def test_hours_given_to_another_household_by_its_e_mail(app, client, auth, people):
    job = _job(minutes=720)
    _db.session.add(
        WorkSignup(
            job_id=job.id, membership_id=people["a"].id, state=WorkSignupState.DONE, minutes=720
        )
    )
    _db.session.commit()
    auth.login("anna@example.org")
    too_much = client.post("/work/mine/give", data={"email": "bruno@example.org", "hours": "3"})
    assert too_much.status_code == 400
    assert "You can give at most 2 hours" in too_much.get_data(as_text=True)
    nobody = client.post("/work/mine/give", data={"email": "who@example.org", "hours": "1"})
    assert nobody.status_code == 400
    assert _db.session.scalar(select(func.count(WorkTransfer.id))) == 0

    ok = client.post("/work/mine/give", data={"email": "Bruno@Example.org", "hours": "1,5"})
    assert ok.status_code == 303
    assert "Birch" not in client.get("/work/mine").get_data(as_text=True)  # not named to A
    a, b = queries.ledger_of(people["a"]), queries.ledger_of(people["b"])
    assert (a.given_out, a.surplus, a.owed) == (90, 30, 0)
    assert (b.given_in, b.owed) == (90, 510)


def test_hours_bought_out_come_on_the_next_invoice(app, client, auth, people):
    from csa.invoices.operations import issue_invoice, schedule
    from csa.money.profile import farm_profile

    auth.login("bruno@example.org")
    too_much = client.post("/work/mine/buyout", data={"hours": "11"})
    assert too_much.status_code == 400
    assert "You can buy out at most 10 hours." in too_much.get_data(as_text=True)
    assert client.post("/work/mine/buyout", data={"hours": "2"}).status_code == 303
    row = _db.session.scalar(select(WorkBuyout))
    assert (row.minutes, row.amount_cents, row.currency) == (120, 4000, "EUR")
    assert queries.ledger_of(people["b"]).owed == 480

    profile = farm_profile()
    profile.legal_name, profile.iban, profile.currency = "Farm", "DE89370400440532013000", "EUR"
    b = people["b"]
    b.price_cents = 50_000
    _db.session.flush()
    plan = schedule(b, b.price_cents)
    invoice = issue_invoice(b, plan[0], len(plan), farm_today(), profile, notify=False)
    _db.session.commit()
    lines = [(line.description, line.amount_cents) for line in invoice.lines]
    assert ("Work hours bought out: 2 h", 4000) in lines
    assert invoice.total_cents == plan[0].amount_cents + 4000
    _db.session.refresh(row)
    assert row.invoice_id == invoice.id
    # The next invoice does not bill it again.
    from csa.work.hooks import buyout_charges

    assert buyout_charges(b) == []
    assert _db.session.scalar(select(func.count(Invoice.id))) == 1


@pytest.fixture
def smtp(app):
    server = SmtpServer()
    server.start()
    server.configure(app)
    yield server
    server.stop()


def test_the_reminder_goes_once_48_hours_before(app, people, smtp):
    from csa.jobs import JobReport, work_notices
    from csa.notices.outbox import deliver

    job = _job(title="Harvest <help>", days=1, slots=1)  # full: no call for help
    operations.sign_up(job, people["a"], people["user_a"])
    far = _job(title="Far away", days=9)
    operations.sign_up(far, people["a"], people["user_a"])
    _db.session.commit()
    report = JobReport()
    work_notices(utcnow(), report)
    assert "work reminders: 1" in report.notes[0]
    assert deliver().sent == 1
    (msg,) = smtp.handler.parsed()
    assert msg["To"] == "anna@example.org"
    assert "Harvest <help>" in msg["Subject"]
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Field 3" in body
    assert "/work/mine" in body
    again = JobReport()
    work_notices(utcnow(), again)
    assert again.notes == []
    assert deliver().sent == 0
    assert len(smtp.handler.parsed()) == 1


def test_an_understaffed_job_calls_the_households_that_owe_hours_once(app, people, smtp):
    from csa.notices.outbox import deliver

    job = _job(title="Bean picking", days=3, slots=3)
    done = _job(title="Done", days=-5, minutes=600)
    _db.session.add(
        WorkSignup(
            job_id=done.id, membership_id=people["b"].id, state=WorkSignupState.DONE, minutes=600
        )
    )
    _db.session.commit()
    first = notices.run(utcnow())
    _db.session.commit()
    assert first.called == 1
    assert deliver().sent == 1
    (msg,) = smtp.handler.parsed()
    assert msg["To"] == "anna@example.org"  # Bruno owes nothing
    assert "Bean picking" in msg["Subject"]
    assert notices.run(utcnow()).called == 0
    _db.session.refresh(job)
    assert job.called_at is not None
    # The audience of messages: the households that still owe hours.
    from csa.community.audiences import audiences

    assert audiences()["work_owing"].members() == {people["a"].member_id}


def test_the_feed_carries_the_households_jobs(app, client, people):
    job = _job(title="Weeding, the carrots")
    operations.sign_up(job, people["a"], people["user_a"])
    _job(title="Not mine")
    _db.session.commit()
    feed = client.get(f"/calendar/feed/{people['a'].member.calendar_token}.ics")
    text = feed.get_data(as_text=True).replace("\r\n ", "")
    assert "SUMMARY:Weeding\\, the carrots" in text
    assert f"UID:work-{job.id}-{people['a'].id}" in text
    assert "Not mine" not in text


def test_site_duty_is_printed_on_the_pickup_list_and_shown_on_my_share(
    app, client, auth, people, farm
):
    from csa.sheets.build import render_site_preview

    today = farm_today()
    day = today + timedelta(days=(1 - today.weekday()) % 7 + 7)  # a Tuesday ahead
    round_ = Round(date=day)
    _db.session.add(round_)
    _db.session.commit()
    auth.login("farmer@example.org")
    assert client.post(f"/work/duty/{round_.id}/{farm.tuesday.id}").status_code == 303
    again = client.post(f"/work/duty/{round_.id}/{farm.tuesday.id}")
    assert again.status_code == 303
    duty = _db.session.scalar(select(WorkJob).where(WorkJob.round_id == round_.id))
    assert duty.site_id == farm.tuesday.id
    assert duty.minutes == 180

    _as(client, auth, "bruno@example.org")
    assert "Site duty this round still needs 1 more." in client.get("/share/").get_data(
        as_text=True
    )
    assert client.post(f"/work/mine/jobs/{duty.id}/signup").status_code == 303
    share = client.get("/share/").get_data(as_text=True)
    assert "You are on site duty this round, from 16:00." in share
    pages = text_of(render_site_preview(round_, farm.tuesday))
    assert "Site duty: Bruno <b>Birch</b>" in " ".join(pages)


def test_member_a_cannot_touch_bs_sign_up(app, client, auth, people):
    job = _job()
    operations.sign_up(job, people["b"], people["user_b"])
    _db.session.commit()
    signup = _db.session.scalar(select(WorkSignup))
    auth.login("anna@example.org")
    assert client.post(f"/work/mine/jobs/{job.id}/cancel").status_code == 404
    assert client.post(f"/work/signups/{signup.id}/confirm", data={"came": "no"}).status_code == 403
    assert client.get(f"/work/jobs/{job.id}").status_code == 403
    assert "Birch" not in client.get("/work/mine").get_data(as_text=True)
    _db.session.expire_all()
    assert _signups(job.id) == 1
    assert job.taken == 1
    assert _db.session.get(WorkSignup, signup.id).state == WorkSignupState.SIGNED


def test_the_households_download_holds_its_work_and_not_the_others(app, client, auth, people):
    import io
    import json
    import zipfile

    job = _job(title="Weeding <carrots>")
    operations.sign_up(job, people["a"], people["user_a"])
    operations.sign_up(job, people["b"], people["user_b"])
    _db.session.add(
        WorkTransfer(from_membership_id=people["b"].id, to_membership_id=people["a"].id, minutes=30)
    )
    _db.session.commit()
    auth.login("anna@example.org")
    response = client.post("/privacy/download")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        data = json.loads(archive.read("household.json"))["data"]
        assert "work_signups.csv" in archive.namelist()
    assert [s["membership_id"] for s in data["work_signups"]] == [people["a"].id]
    (transfer,) = data["work_transfers"]
    assert transfer["direction"] == "received"
    assert transfer["membership_id"] == people["a"].id


def test_two_transfers_at_once_cannot_give_the_same_hours_twice(app, people, farm):
    """The second transfer waits for the first one's transaction and then reads the ledger
    it left: the surplus is gone, so it is refused."""
    import time as clock

    third = add_member(farm, name="Cora Cedar", email="cora@example.org")
    job = _job(minutes=720)
    _db.session.add(
        WorkSignup(
            job_id=job.id, membership_id=people["a"].id, state=WorkSignupState.DONE, minutes=720
        )
    )
    _db.session.commit()
    ids = (people["a"].id, people["user_a"].id)
    outcome: list[str] = []

    def other_request() -> None:
        with app.app_context():
            try:
                operations.give_hours(
                    _db.session.get(Membership, ids[0]),
                    "cora@example.org",
                    120,
                    _db.session.get(User, ids[1]),
                )
                _db.session.commit()
                outcome.append("given")
            except ValidationFailed as exc:
                _db.session.rollback()
                outcome.append(str(exc))
            finally:
                _db.session.remove()

    operations.give_hours(people["a"], "bruno@example.org", 120, people["user_a"])
    thread = threading.Thread(target=other_request)
    thread.start()
    clock.sleep(0.5)  # the other request now waits for this one's lock
    assert outcome == []
    _db.session.commit()
    thread.join(timeout=20)
    assert outcome == ["You can give at most 0 hours: what you worked beyond your own."]
    assert queries.ledger_of(third).given_in == 0
    assert queries.ledger_of(people["b"]).given_in == 120


def test_the_farm_sees_every_households_hours(app, client, auth, people):
    job = _job(minutes=120)
    _db.session.add(
        WorkSignup(
            job_id=job.id, membership_id=people["b"].id, state=WorkSignupState.DONE, minutes=120
        )
    )
    _db.session.commit()
    auth.login("farmer@example.org")
    html = client.get("/work/hours").get_data(as_text=True)
    assert "Bruno &lt;b&gt;Birch&lt;/b&gt;" in html
    assert "Still owed in all: 18 h." in html  # 10 h of Anna, 8 h of Bruno
    assert html.index("Anna Alder") < html.index("Bruno &lt;b&gt;")  # who owes most first
    _as(client, auth, "anna@example.org")
    assert client.get("/work/hours").status_code == 403
