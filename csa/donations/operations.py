"""Writes of the food-sharing partners: partners, routes, and settling a locked round.

Every function flushes only; the view or job that called it commits once. A rule broken
raises FieldError (naming the form field) before anything is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from csa.accounts.operations import valid_email
from csa.donations.queries import PartnerLoad, RoundDonations, round_donations, surplus_partner
from csa.donations.sheet import partner_sheet
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import (
    DonationNotice,
    DonationRound,
    DonationRoute,
    PartnerOrganisation,
    PickupSite,
    Round,
    RoundStatus,
)
from csa.notices import attachments, mail
from csa.rounds.split import RoundSplit
from csa.sheets.annotations import request_refresh

log = logging.getLogger(__name__)

ATTACHMENT_KIND = "donation"


@dataclass(frozen=True)
class PartnerData:
    name: str
    contact_name: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    pickup_note: str = ""
    takes_surplus: bool = False


def _check(data: PartnerData, partner: PartnerOrganisation | None) -> PartnerData:
    name = data.name.strip()
    if not name:
        raise FieldError("name", _("Give the partner a name."))
    same = db.session.scalar(
        select(PartnerOrganisation.id).where(func.lower(PartnerOrganisation.name) == name.lower())
    )
    if same is not None and (partner is None or same != partner.id):
        raise FieldError("name", _("There is a partner named %(name)s already.", name=name))
    email = data.email.strip().lower()
    if email and not valid_email(email):
        raise FieldError("email", _("Enter an e-mail address like name@example.org."))
    if data.takes_surplus:
        taker = surplus_partner()
        if taker is not None and (partner is None or taker.id != partner.id):
            raise FieldError(
                "takes_surplus",
                _(
                    "%(name)s takes the surplus already: one partner takes it. Change that "
                    "partner first.",
                    name=taker.name,
                ),
            )
    if data.takes_surplus and partner is not None and not partner.active:
        raise FieldError("takes_surplus", _("An inactive partner takes nothing."))
    return PartnerData(
        name,
        data.contact_name.strip(),
        email,
        data.phone.strip(),
        data.address.strip(),
        data.pickup_note.strip(),
        data.takes_surplus,
    )


def create_partner(data: PartnerData) -> PartnerOrganisation:
    clean = _check(data, None)
    partner = PartnerOrganisation(
        name=clean.name,
        contact_name=clean.contact_name,
        email=clean.email,
        phone=clean.phone,
        address=clean.address,
        pickup_note=clean.pickup_note,
        takes_surplus=clean.takes_surplus,
        active=True,
    )
    db.session.add(partner)
    db.session.flush()
    return partner


def update_partner(partner: PartnerOrganisation, data: PartnerData) -> None:
    clean = _check(data, partner)
    renamed = clean.name != partner.name
    partner.name = clean.name
    partner.contact_name = clean.contact_name
    partner.email = clean.email
    partner.phone = clean.phone
    partner.address = clean.address
    partner.pickup_note = clean.pickup_note
    partner.takes_surplus = clean.takes_surplus
    db.session.flush()
    if renamed:  # the pickup lists print its name (csa/donations/views.py annotate)
        _refresh_locked(route_sites(partner))


def route_sites(partner: PartnerOrganisation) -> list[int]:
    return list(
        db.session.scalars(
            select(DonationRoute.site_id).where(DonationRoute.partner_id == partner.id)
        )
    )


def deactivate_partner(partner: PartnerOrganisation) -> int:
    """Stop giving to a partner: its routes end and it no longer takes the surplus (its past
    sheets stay). Returns how many routes ended."""
    if not partner.active:
        raise ValidationFailed(_("%(name)s is inactive already.", name=partner.name))
    sites = route_sites(partner)
    db.session.execute(delete(DonationRoute).where(DonationRoute.partner_id == partner.id))
    partner.active = False
    partner.takes_surplus = False
    db.session.flush()
    _refresh_locked(sites)
    return len(sites)


def reactivate_partner(partner: PartnerOrganisation) -> None:
    if partner.active:
        raise ValidationFailed(_("%(name)s is active already.", name=partner.name))
    partner.active = True
    db.session.flush()


def set_route(site: PickupSite, partner: PartnerOrganisation | None, note: str) -> None:
    """Send a site's donated shares to a partner (None: to nobody)."""
    note = note.strip()
    if partner is not None and not partner.active:
        raise FieldError("partner", _("%(name)s is inactive: it takes nothing.", name=partner.name))
    if partner is None and note:
        raise FieldError("note", _("Choose the partner the note is for, or leave it empty."))
    route = db.session.get(DonationRoute, site.id)
    if partner is None:
        if route is not None:
            db.session.delete(route)
    elif route is None:
        db.session.add(DonationRoute(site_id=site.id, partner_id=partner.id, note=note))
    else:
        route.partner_id = partner.id
        route.note = note
    db.session.flush()
    _refresh_locked([site.id])


def _refresh_locked(site_ids: list[int]) -> None:
    """The pickup lists of locked rounds still to be collected print who collects the donated
    shares (csa/donations/views.py annotate): make them again when that changed."""
    if not site_ids:
        return
    for round_ in db.session.scalars(select(Round).where(Round.status == RoundStatus.LOCKED)):
        request_refresh(round_)


# --- after the lock -------------------------------------------------------------------------


def rounds_to_settle() -> list[Round]:
    """Locked rounds whose after-lock steps ran (their sheets and notices are out) and whose
    donations were not settled yet."""
    settled = select(DonationRound.round_id)
    return list(
        db.session.scalars(
            select(Round)
            .where(
                Round.status == RoundStatus.LOCKED,
                Round.notified_at.is_not(None),
                Round.id.not_in(settled),
            )
            .order_by(Round.date)
        )
    )


def settle_round(round_: Round, split: RoundSplit | None = None) -> int:
    """Fix who takes the round's surplus and queue one mail with its pickup sheet to every
    partner that collects something and has an address. Returns the mails queued now.

    The DonationRound row is the round's mark (a primary key: a second run, or a second
    process, finds it and does nothing); each mail has its own key in the outbox too.
    """
    if db.session.get(DonationRound, round_.id) is not None:
        return 0
    taker = surplus_partner()
    db.session.add(
        DonationRound(round_id=round_.id, surplus_partner_id=taker.id if taker else None)
    )
    db.session.flush()
    donations = round_donations(round_, split)
    sent = 0
    for load in donations.partners:
        if not load.empty and load.partner.email and _queue_sheet(donations, load):
            sent += 1
    log.info("donations of %s settled: %d mails", round_.date, sent)
    return sent


def _queue_sheet(donations: RoundDonations, load: PartnerLoad) -> bool:
    """Queue the partner's mail of a round (once: the notice row is unique per round and
    partner, the outbox key too); False if it was queued before."""
    round_, partner = donations.round, load.partner
    known = db.session.scalar(
        select(DonationNotice.id).where(
            DonationNotice.round_id == round_.id, DonationNotice.partner_id == partner.id
        )
    )
    if known is not None:
        return False
    notice = DonationNotice(round_id=round_.id, partner_id=partner.id)
    db.session.add(notice)
    db.session.flush()
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        sheet = partner_sheet(donations, load)
        subject = _(
            "Donations for %(partner)s on %(date)s from %(farm)s",
            partner=partner.name,
            date=round_.date.isoformat(),
            farm=sheet.farm,
        )
        body = render_template("mail/donation_sheet.txt", sheet=sheet)
    queued = mail.send(
        f"donation/{round_.id}/{partner.id}",
        partner.email,
        subject,
        body,
        attachment=attachments.reference(ATTACHMENT_KIND, notice.id),
    )
    return queued is not None


def mail_sheet(round_: Round, partner: PartnerOrganisation) -> None:
    """Mail a partner its sheet of a locked round by hand (a partner added, or given an
    address, after the round was settled). Once per round and partner, like the job."""
    if round_.status != RoundStatus.LOCKED:
        raise ValidationFailed(_("Only a round locked and not yet handed out can be mailed."))
    if not partner.active:
        raise ValidationFailed(_("%(name)s is inactive: it takes nothing.", name=partner.name))
    if not partner.email:
        raise ValidationFailed(_("%(name)s has no e-mail address.", name=partner.name))
    donations = round_donations(round_)
    load = donations.of(partner.id)
    if load is None or load.empty:
        raise ValidationFailed(
            _("Nothing goes to %(name)s in this round: no mail.", name=partner.name)
        )
    if not _queue_sheet(donations, load):
        raise ValidationFailed(_("%(name)s was mailed this sheet already.", name=partner.name))


def settle_due() -> int:
    """Settle every locked round due (the scheduler's job): one commit per round."""
    sent = 0
    for round_ in rounds_to_settle():
        round_id = round_.id
        try:
            sent += settle_round(round_)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # another process settled it first (the row's primary key)
            log.info("the donations of round %s were settled by another process", round_id)
        except Exception:
            db.session.rollback()
            log.exception(
                "settling the donations of round %s failed; the next run retries", round_id
            )
    return sent
