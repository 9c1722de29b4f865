"""Offers of free places to the households on a site's waiting list.

A place is free when a site's capacity exceeds the places taken (csa/register/waiting.py
free_places). The scheduler (csa/jobs.py offer_places) gives each free place, one offer
at a time, to the next waiting membership without an open offer; the household answers
through a link whose token is stored only as its sha256. What happens to a household that
declines or lets an offer expire is in docs/joining/waiting-list.md:

- declined: it leaves the list (its waiting membership ends);
- expired: it goes to the end of the list, once; a second expired offer in the same season
  takes it off the list as a decline does.

Every change of an offer's state is one atomic UPDATE from "open" (`_claim`), so two
processes can never both expire, accept or withdraw one offer; while open an offer holds a
numbered slot of its site and season, unique, so two jobs can never both offer one place.
These functions flush only; the job, command or view that calls them commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from csa.core.schedule import round_dates
from csa.errors import ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    OPEN_STATES,
    Membership,
    MembershipStatus,
    OfferState,
    PickupSite,
    PlaceOffer,
    Round,
    Season,
)
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed
from csa.register import waiting

TOKEN_INFO = b"csa place offer v1:"
EXPIRIES_BEFORE_LEAVING = 2  # the second expired offer of a season takes a household off


# --- the link ---------------------------------------------------------------------------


def offer_token(membership_id: int, offered_at: datetime) -> str:
    """The secret of an offer's link, derived from the farm's SECRET_KEY.

    The database holds only its sha256 (`token_hash`), so a copy of the database opens no
    offer; the app can still show a signed-in household the link to its own open offer.
    """
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = TOKEN_INFO + f"{membership_id}:{offered_at.isoformat()}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_of(offer: PlaceOffer) -> str:
    return offer_token(offer.membership_id, offer.offered_at)


def offer_by_token(token: str) -> PlaceOffer | None:
    """The offer a link names, whatever its state (the page says what became of it)."""
    if not token or len(token) > 100:
        return None
    return db.session.scalar(select(PlaceOffer).where(PlaceOffer.token_hash == token_hash(token)))


def offer_url(offer: PlaceOffer) -> str:
    """The answer page of an offer, for mails and pages (no request needed)."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/waitlist/offer/{token_of(offer)}"


# --- what a place is ------------------------------------------------------------------------


def first_round(site: PickupSite, season: Season, today: date) -> date | None:
    """The first pickup at a site after today within the season: a household that accepts
    today collects from then on.

    An open round that exists is taken first (a moved round feeds the sites of the date it
    was planned on); beyond the rounds created so far the site's rhythm gives the date.
    """
    rounds = db.session.scalars(
        select(Round)
        .where(
            Round.status.in_(OPEN_STATES),
            Round.date > today,
            Round.date >= season.start,
            Round.date <= season.end,
        )
        .order_by(Round.date)
    )
    for round_ in rounds:
        if site.serves(round_.schedule_date):
            return round_.date
    last_created = db.session.scalar(select(func.max(Round.date))) or today
    begin = max(today + timedelta(days=1), season.start, last_created + timedelta(days=1))
    if not site.active or begin > season.end:
        return None
    return next(iter(round_dates([site.rhythm], begin, season.end)), None)


def open_offers(site_id: int, season_id: int) -> list[PlaceOffer]:
    return list(
        db.session.scalars(
            select(PlaceOffer)
            .where(
                PlaceOffer.site_id == site_id,
                PlaceOffer.season_id == season_id,
                PlaceOffer.state == OfferState.OPEN,
            )
            .order_by(PlaceOffer.offered_at, PlaceOffer.id)
        )
    )


def open_offer_of(membership: Membership) -> PlaceOffer | None:
    return db.session.scalar(
        select(PlaceOffer).where(
            PlaceOffer.membership_id == membership.id, PlaceOffer.state == OfferState.OPEN
        )
    )


def seasons_to_fill(today: date) -> list[Season]:
    """The seasons running today or still to come."""
    return list(
        db.session.scalars(
            select(Season).where(Season.active, Season.end >= today).order_by(Season.start)
        )
    )


def active_sites() -> list[PickupSite]:
    return list(
        db.session.scalars(select(PickupSite).where(PickupSite.active).order_by(PickupSite.name))
    )


# --- the job's steps --------------------------------------------------------------------


def _claim(offer: PlaceOffer, state: OfferState, now: datetime, *, unexpired: bool) -> bool:
    """Move an open offer to `state` in one UPDATE; False if another got there first."""
    statement = update(PlaceOffer).where(
        PlaceOffer.id == offer.id, PlaceOffer.state == OfferState.OPEN
    )
    if unexpired:
        statement = statement.where(PlaceOffer.expires_at > now)
    changed = changed_rows(
        statement.values(state=state, slot=None, answered_at=now).execution_options(
            synchronize_session=False
        )
    )
    if changed:
        db.session.refresh(offer)
    return bool(changed)


def due_offers(now: datetime) -> list[PlaceOffer]:
    """Open offers past their expiry, or whose membership left the list another way."""
    return list(
        db.session.scalars(
            select(PlaceOffer)
            .join(Membership, Membership.id == PlaceOffer.membership_id)
            .where(
                PlaceOffer.state == OfferState.OPEN,
                (PlaceOffer.expires_at <= now)
                | (Membership.status != MembershipStatus.WAITING)
                | (Membership.site_id != PlaceOffer.site_id)
                | (Membership.season_id != PlaceOffer.season_id),
            )
            .order_by(PlaceOffer.id)
        )
    )


def close_due(offer: PlaceOffer, now: datetime) -> OfferState | None:
    """Expire an offer past its time (telling the household), or withdraw one whose
    membership is no longer waiting for that place (a coordinator changed it in the
    register: another status, site or season)."""
    membership = offer.membership
    if (
        membership.status != MembershipStatus.WAITING
        or membership.site_id != offer.site_id
        or membership.season_id != offer.season_id
    ):
        return (
            OfferState.WITHDRAWN
            if _claim(offer, OfferState.WITHDRAWN, now, unexpired=False)
            else None
        )
    if not _claim(offer, OfferState.EXPIRED, now, unexpired=False):
        return None
    expired = db.session.scalar(
        select(func.count(PlaceOffer.id)).where(
            PlaceOffer.membership_id == membership.id, PlaceOffer.state == OfferState.EXPIRED
        )
    )
    leaves = (expired or 0) >= EXPIRIES_BEFORE_LEAVING
    if leaves:
        waiting.leave(membership, MembershipStatus.ENDED)
    else:
        waiting.move(
            membership, len(waiting.waiting_list(membership.site_id, membership.season_id))
        )
    _tell(offer, "expired", leaves=leaves)
    return OfferState.EXPIRED


def offer_next(site: PickupSite, season: Season, now: datetime, today: date) -> PlaceOffer | None:
    """Offer one free place at a site to the next waiting household; None when there is no
    free place left over the open offers, nobody waiting without one, or no round left."""
    offers = open_offers(site.id, season.id)
    if waiting.free_places(site, season) <= len(offers):
        return None
    offered = {o.membership_id for o in offers}
    candidate = next(
        (m for m in waiting.waiting_list(site.id, season.id) if m.id not in offered), None
    )
    if candidate is None or first_round(site, season, today) is None:
        return None
    taken = {o.slot for o in offers}
    slot = next(n for n in itertools.count(1) if n not in taken)
    offered_at = now.replace(microsecond=0)
    offer = PlaceOffer(
        membership=candidate,
        site_id=site.id,
        season_id=season.id,
        slot=slot,
        offered_at=offered_at,
        expires_at=offered_at + timedelta(days=int(current_app.config["OFFER_EXPIRY_DAYS"])),
        state=OfferState.OPEN,
        token_hash=token_hash(offer_token(candidate.id, offered_at)),
    )
    db.session.add(offer)
    db.session.flush()
    _tell(offer, "offered")
    return offer


# --- the household's answer and the coordinator's withdrawal -----------------------------


def refusal(offer: PlaceOffer, now: datetime) -> str | None:
    """Why an offer can no longer be answered, in words for the household; None if it can."""
    if offer.state == OfferState.ACCEPTED:
        return _("You accepted this offer already; your share is waiting for you.")
    if offer.state == OfferState.DECLINED:
        return _("You declined this offer; it cannot be answered again.")
    if offer.state == OfferState.WITHDRAWN:
        return _("The farm withdrew this offer; it cannot be answered any more.")
    if offer.state == OfferState.EXPIRED or offer.expires_at <= now:
        return _("This offer expired; it cannot be answered any more.")
    if offer.membership.status != MembershipStatus.WAITING:
        return _("This membership is no longer on the waiting list.")
    return None


def accept(offer: PlaceOffer, now: datetime, today: date) -> Membership:
    """Take the place: the membership becomes active from the site's next round on."""
    problem = refusal(offer, now)
    if problem:
        raise ValidationFailed(problem)
    membership = offer.membership
    site, season = offer.site, offer.season
    start = first_round(site, season, today)
    if start is None or start > membership.end:
        raise ValidationFailed(
            _(
                "There is no pickup left this season at %(site)s, so the place cannot start.",
                site=site.name,
            )
        )
    if waiting.places_taken(site.id, season.id) >= site.capacity:
        raise ValidationFailed(
            _(
                "Sorry, the place at %(site)s is no longer free. The farm will be in touch.",
                site=site.name,
            )
        )
    if not _claim(offer, OfferState.ACCEPTED, now, unexpired=True):
        raise ValidationFailed(_("This offer was answered already."))
    membership.site_id = site.id
    membership.start = start
    waiting.leave(membership, MembershipStatus.ACTIVE)
    _tell(offer, "accepted", start=start)
    return membership


def decline(offer: PlaceOffer, now: datetime) -> None:
    """Say no: the household leaves the list and the place goes to the next at the next run."""
    problem = refusal(offer, now)
    if problem:
        raise ValidationFailed(problem)
    if not _claim(offer, OfferState.DECLINED, now, unexpired=True):
        raise ValidationFailed(_("This offer was answered already."))
    waiting.leave(offer.membership, MembershipStatus.ENDED)
    _tell(offer, "declined")


def withdraw(offer: PlaceOffer, now: datetime) -> None:
    """A coordinator takes an open offer back; the household keeps its place on the list."""
    if offer.state != OfferState.OPEN or not _claim(
        offer, OfferState.WITHDRAWN, now, unexpired=False
    ):
        raise ValidationFailed(_("Only an open offer can be withdrawn."))
    _tell(offer, "withdrawn")


# --- the mails --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mail:
    subject: str
    template: str


def _subjects(kind: str, site: str) -> _Mail:
    """The subject and body of each mail, read in the recipient's language."""
    subjects = {
        "offered": _("A place for you at %(site)s", site=site),
        "expired": _("Your offer of a place at %(site)s expired", site=site),
        "accepted": _("Welcome: your place at %(site)s", site=site),
        "declined": _("You declined the place at %(site)s", site=site),
        "withdrawn": _("The offer of a place at %(site)s was withdrawn", site=site),
    }
    return _Mail(subjects[kind], f"mail/offer_{kind}.txt")


def _tell(offer: PlaceOffer, kind: str, **context: object) -> None:
    """Queue one mail per reader of the household, once per offer and kind (outbox key)."""
    membership = offer.membership
    member = membership.member
    link = offer_url(offer) if kind == "offered" else ""
    position = (
        waiting.position(membership) if membership.status == MembershipStatus.WAITING else None
    )
    for to in household_recipients(member):
        with force_locale(to.locale):
            what = _subjects(kind, offer.site.name)
            body = render_template(
                what.template,
                offer=offer,
                member=member,
                membership=membership,
                link=link,
                position=position,
                share_url=current_app.config["BASE_URL"].rstrip("/") + "/share/",
                **context,
            )
        mail.send(
            keyed(f"offer-{kind}/{offer.id}", to), to.email, what.subject, body, redact=[link]
        )
    db.session.flush()
