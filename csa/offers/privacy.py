"""The household's offered shares and swaps in its data download, and the friends' names
it typed removed when it is anonymised (csa/privacy: its registry of sources and list of
scrubbers). Imported by csa/offers/views.py, so the app that serves the board has both."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select, update

from csa.extensions import db
from csa.models import Member, Membership, ShareOffer, Swap
from csa.privacy.export import Row, household_data
from csa.privacy.operations import SCRUBBERS, Personal


def _membership_ids(member: Member) -> list[int]:
    return list(db.session.scalars(select(Membership.id).where(Membership.member_id == member.id)))


@household_data(_l("The shares the household offered or collected for others, and its swaps."))
def _offers(member: Member) -> tuple[str, list[Row]]:
    ids = _membership_ids(member)
    offers = db.session.scalars(
        select(ShareOffer)
        .where(or_(ShareOffer.membership_id.in_(ids), ShareOffer.accepted_by_id.in_(ids)))
        .order_by(ShareOffer.id)
    )
    swaps = db.session.scalars(
        select(Swap)
        .where(or_(Swap.membership_id.in_(ids), Swap.accepted_by_id.in_(ids)))
        .order_by(Swap.id)
    )
    rows: list[Row] = [
        {
            "kind": "offered share",
            "round_date": o.round.date,
            "offered_by_us": o.membership_id in ids,
            "target": o.target,
            "state": o.state,
            # Another household's friend is not ours to hand out.
            "friend_name": o.friend_name if o.membership_id in ids else "",
            "gives": "",
            "wants": "",
            "created_at": o.created_at,
        }
        for o in offers
    ]
    rows += [
        {
            "kind": "swap",
            "round_date": s.round.date,
            "offered_by_us": s.membership_id in ids,
            "target": "",
            "state": s.state,
            "friend_name": "",
            "gives": s.gives_crop.name,
            "wants": s.wants_crop.name,
            "created_at": s.created_at,
        }
        for s in swaps
    ]
    return "offers_and_swaps", rows


def _scrub_offers(member: Member, old: Personal) -> None:
    """The friends' names the household typed go; the offers stay (the pickup happened)."""
    db.session.execute(
        update(ShareOffer)
        .where(ShareOffer.membership_id.in_(_membership_ids(member)), ShareOffer.friend_name != "")
        .values(friend_name="")
        .execution_options(synchronize_session=False)
    )


if _scrub_offers not in SCRUBBERS:
    SCRUBBERS.insert(0, _scrub_offers)
