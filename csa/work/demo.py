"""The demo farm's work days: hours each share type requires, a buy-out rate, jobs to come
with sign-ups (the demo member on one), a flexible task, a past job with attendance
confirmed, hours given and bought out, and site duty for the coming rounds. Flushes only;
csa/demo.py commits."""

from __future__ import annotations

from datetime import date, time, timedelta

from sqlalchemy import select

from csa.extensions import db
from csa.models import (
    Membership,
    MembershipStatus,
    PickupSite,
    Role,
    Season,
    User,
    WorkBuyout,
    WorkJob,
    WorkRequirement,
    WorkSignup,
    WorkSignupState,
    WorkTransfer,
)
from csa.money.profile import farm_profile
from csa.work import operations

HOURS = {1000: 8, 500: 4, 1500: 12}  # by share weight: full, half, family


def load_demo(today: date, season: Season, memberships: list[Membership]) -> str:
    """Add the demo's work days; return what was done."""
    staff = db.session.scalar(select(User).where(User.role == Role.FARMER).order_by(User.id))
    if staff is None:
        return "work days: no farmer"
    settings = operations.work_settings()
    settings.buyout_rate_cents = 1500
    settings.currency = farm_profile().currency
    for membership in memberships:
        st = membership.share_type
        if db.session.get(WorkRequirement, st.id) is None:
            hours = HOURS.get(st.weight_milli, 6)
            db.session.add(WorkRequirement(share_type_id=st.id, minutes=hours * 60))
            db.session.flush()
    active = [m for m in memberships if m.status == MembershipStatus.ACTIVE]
    me, others = active[0], active[1:]

    def job(title: str, days: int, start: int, end: int, slots: int, place: str) -> WorkJob:
        day = today + timedelta(days=days)
        row = WorkJob(
            title=title,
            description="Gloves and water are at the barn. Children welcome.",
            place=place,
            starts_at=operations.local_moment(day, time(start)),
            ends_at=operations.local_moment(day, time(end)),
            slots=slots,
            taken=0,
            minutes=(end - start) * 60,
            created_by_id=staff.id,
        )
        db.session.add(row)
        db.session.flush()
        return row

    def sign(job_: WorkJob, who: list[Membership], done: bool = False) -> None:
        for m in who[: job_.slots]:
            db.session.add(
                WorkSignup(
                    job_id=job_.id,
                    membership_id=m.id,
                    state=WorkSignupState.DONE if done else WorkSignupState.SIGNED,
                    minutes=job_.minutes if done else 0,
                    confirmed_by_id=staff.id if done else None,
                )
            )
        job_.taken = min(job_.slots, len(who))
        db.session.flush()

    past = job("Planting leeks", -12, 9, 13, 6, "Field 2, by the greenhouse")
    sign(past, [me, *others[:5]], done=True)
    potatoes = job("Potato harvest", 5, 9, 13, 8, "Field 4")
    sign(potatoes, [me, *others[5:8]])
    sign(job("Weeding the onions", 12, 16, 19, 4, "Field 1"), others[8:9])
    fence = WorkJob(
        title="Paint the depot sign",
        description="Paint and brushes are in the shed; any afternoon before the due date.",
        place="Old Mill depot",
        due_on=today + timedelta(days=20),
        slots=2,
        taken=0,
        minutes=120,
        created_by_id=staff.id,
    )
    db.session.add(fence)
    db.session.flush()
    # The demo member worked 4 hours and gives one to a neighbour; another household buys
    # two hours out (a line on its next invoice).
    db.session.add(
        WorkTransfer(
            from_membership_id=me.id, to_membership_id=others[0].id, minutes=60, by_id=staff.id
        )
    )
    buyer = others[10] if len(others) > 10 else others[-1]
    db.session.add(
        WorkBuyout(
            membership_id=buyer.id,
            minutes=120,
            rate_cents=settings.buyout_rate_cents,
            amount_cents=2 * settings.buyout_rate_cents,
            currency=settings.currency,
            by_id=staff.id,
        )
    )
    db.session.flush()
    duties = 0
    me_on_duty = False
    sites = list(db.session.scalars(select(PickupSite).where(PickupSite.active.is_(True))))
    for n, round_ in enumerate(operations.coming_duty_rounds(today, 8)):
        for site in sites:
            if not site.serves(round_.schedule_date):
                continue
            duty = operations.add_duty(round_, site, staff)
            duties += 1
            if n < len(sites):  # the first week's duties have someone
                here = [m for m in active if m.site_id == site.id]
                sign(duty, here[-1:])
            elif site.id == me.site_id and not me_on_duty:  # the demo member, the week after
                sign(duty, [me])
                me_on_duty = True
    return f"work days: 4 jobs, {duties} site duties"
