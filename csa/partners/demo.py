"""The demo farm's share partners: the demo member's household shares its membership with
a neighbouring household (with a login of its own, neighbour@demo.farm); they take turns
over the season's real rounds, swapped one pair of coming rounds already, and the neighbour
offers one round back for the demo member to answer. Flushes only; csa/demo.py commits."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from csa.accounts import operations as accounts
from csa.core.clock import utcnow
from csa.extensions import db
from csa.models import (
    Member,
    Membership,
    PartnerPattern,
    PartnerSetting,
    PartnerSwap,
    PartnerSwapState,
    Role,
    SharePartner,
    User,
)
from csa.partners import queries

PARTNER_EMAIL = "neighbour@demo.farm"


def load_demo(today: date, memberships: list[Membership], password: str) -> str:
    """Share the demo member's membership; return what was done."""
    shared = memberships[0]
    if queries.partners_of(shared.id):
        return "share partners there already"
    neighbour = Member(name="Ola i Marek Sąsiedzi", email="sasiedzi@example.org", locale="pl")
    db.session.add(neighbour)
    db.session.flush()
    if db.session.scalar(select(User).where(User.email == PARTNER_EMAIL)) is None:
        accounts.create_user(
            PARTNER_EMAIL, Role.MEMBER, password=password, name=neighbour.name, member=neighbour
        )
    # Turns count from the season's first day, so the past rounds alternate too.
    db.session.add_all(
        [
            SharePartner(
                membership_id=shared.id,
                member_id=neighbour.id,
                position=1,
                joined=shared.start,
            ),
            PartnerSetting(
                membership_id=shared.id, pattern=PartnerPattern.ALTERNATE, since=shared.start
            ),
        ]
    )
    db.session.flush()
    sharing = queries.sharing_of(shared)
    assert sharing is not None
    coming = [x for x in queries.schedule(sharing).lines if x.round.date >= today and x.collector]
    own, theirs = shared.member_id, neighbour.id
    mine = [x.round for x in coming if x.collector == own]
    other = [x.round for x in coming if x.collector == theirs]
    swaps = 0
    if mine and other:
        # Agreed already: the demo member's first coming round for the neighbour's.
        db.session.add(
            PartnerSwap(
                membership_id=shared.id,
                round_a_id=mine[0].id,
                round_b_id=other[0].id,
                by_member_id=own,
                with_member_id=theirs,
                state=PartnerSwapState.ACCEPTED,
                answered_at=utcnow(),
            )
        )
        # Waiting for the demo member: the neighbour offers that round back, for nothing.
        db.session.add(
            PartnerSwap(
                membership_id=shared.id,
                round_a_id=mine[0].id,
                by_member_id=theirs,
                with_member_id=own,
            )
        )
        swaps = 2
    db.session.flush()
    return f"a shared membership ({swaps} swaps)"
