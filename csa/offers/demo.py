"""The demo's offers and swaps at the demo member's site in its next round with a share:
a neighbour's share offered to the site (the demo member may take it), an open swap the
demo member can accept, an accepted swap between two others, and a share a friend
collects. Written as rows (no mail goes out for a demo); flushes only, csa/demo.py commits.
"""

from __future__ import annotations

from datetime import date, timedelta

from csa.core.clock import utcnow
from csa.core.offers import OfferState, SwapState, Target
from csa.extensions import db
from csa.models import Membership, MembershipStatus, ShareOffer, Swap
from csa.offers import operations as ops


def load_demo(today: date, memberships: list[Membership]) -> str:
    """Add the demo's posts; return what was done (for the demo's summary)."""
    now = utcnow()
    demo = memberships[0]
    chosen = None
    for round_, site in ops.board_rounds(demo, now):
        mine = ops.crops_received(round_, demo)
        if mine:
            chosen = round_, site, mine
            break
    if chosen is None:
        return "no offers or swaps (no coming round with a share)"
    round_, site, mine = chosen
    neighbours: list[tuple[Membership, dict[int, object]]] = []
    for m in memberships[1:]:
        if m.status != MembershipStatus.ACTIVE or ops.terms_on(m, round_).site_id != site.id:
            continue
        crops = ops.crops_received(round_, m)
        if len(crops) >= 2:
            neighbours.append((m, dict(crops)))
        if len(neighbours) == 5:
            break
    if len(neighbours) < 4:
        return "no offers or swaps (too few households at the demo member's site)"
    (offering, _), (swapper, theirs), (giver, gives_crops), (taker, takes_crops) = neighbours[:4]
    at = now - timedelta(hours=3)

    def offer(m: Membership, target: Target, state: OfferState, **kw: object) -> None:
        db.session.add(
            ShareOffer(
                round_id=round_.id,
                membership_id=m.id,
                site_id=site.id,
                target=target,
                state=state,
                created_at=at,
                decided_at=None if state == OfferState.OPEN else at,
                **kw,
            )
        )

    offer(offering, Target.SITE, OfferState.OPEN)
    # An open swap the demo member can take: it asks for a crop of the demo member's share.
    wants = next(iter(mine))
    gives = next((c for c in theirs if c != wants), None)
    posts = 1
    if gives is not None:
        db.session.add(
            Swap(
                round_id=round_.id,
                site_id=site.id,
                membership_id=swapper.id,
                gives_crop_id=gives,
                wants_crop_id=wants,
                state=SwapState.OPEN,
                created_at=at,
            )
        )
        posts += 1
    # An accepted swap between two neighbours.
    pair = next(((g, w) for g in gives_crops for w in takes_crops if g != w), None)
    if pair is not None:
        db.session.add(
            Swap(
                round_id=round_.id,
                site_id=site.id,
                membership_id=giver.id,
                gives_crop_id=pair[0],
                wants_crop_id=pair[1],
                state=SwapState.ACCEPTED,
                accepted_by_id=taker.id,
                created_at=at,
                decided_at=at + timedelta(hours=1),
            )
        )
        posts += 1
    if len(neighbours) > 4:
        offer(neighbours[4][0], Target.FRIEND, OfferState.ACCEPTED, friend_name="Ewa Sąsiadka")
        posts += 1
    db.session.flush()
    return f"{posts} offers and swaps at {site.name} on {round_.date}"
