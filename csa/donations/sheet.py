"""A partner's pickup sheet for one round: what, how much, where and when, as a PDF.

Gathered into plain text first (`partner_sheet`), formatted as the pickup lists are
(csa.ui.formatting), then rendered by the sheets' WeasyPrint setup and stylesheet
(csa.sheets.pdf). One partner's sheet is a page or two, so it renders on demand (about 40 ms
a page) and when a mail carrying it is sent; nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from flask_babel import force_locale, format_date, ngettext
from flask_babel import gettext as _

from csa.donations.queries import Load, PartnerLoad, RoundDonations, round_donations
from csa.extensions import db
from csa.models import Crop, DonationNotice, PartnerOrganisation, Round
from csa.notices.attachments import Attachment, AttachmentMissing
from csa.sheets.build import slugify
from csa.sheets.pdf import render_pdf
from csa.ui.formatting import QuantityFormatter, format_clock

NBSP = "\u00a0"


@dataclass
class SheetLine:
    crop: str
    text: str  # "1.5 kg", as the pickup lists print it


@dataclass
class SheetPlace:
    title: str  # the site's name, or "Surplus of the round"
    where: str  # the site's address, or the partner's own pickup note
    when: str  # the date and the site's window, and the route's note
    shares: str  # "3 shares: on hold, donated 2 · offered, not taken 1" (or "")
    lines: list[SheetLine] = field(default_factory=list)


@dataclass
class PartnerSheet:
    farm: str
    partner: str
    contact: str
    pickup_note: str
    date_text: str
    round_date: str
    places: list[SheetPlace]
    totals: list[SheetLine]


def lines_of(
    milli: dict[int, int], crops: dict[int, Crop], fmt: QuantityFormatter
) -> list[SheetLine]:
    """Quantities per crop in crop-name order, formatted in the crop's unit."""
    ordered = sorted(
        (crops[cid] for cid, q in milli.items() if q > 0), key=lambda c: (c.name.lower(), c.id)
    )
    return [SheetLine(c.name, fmt(milli[c.id], c.unit).replace(" ", NBSP)) for c in ordered]


def _shares_text(load: Load) -> str:
    if not load.shares:
        return ""
    if len(load.reasons) == 1:
        parts = next(iter(load.reasons))
    else:
        parts = " · ".join(f"{reason} ({n})" for reason, n in sorted(load.reasons.items()))
    return ngettext(
        "%(num)d donated share: %(reasons)s",
        "%(num)d donated shares: %(reasons)s",
        load.shares,
        reasons=parts,
    )


def place_of(
    load: Load, round_: Round, fmt: QuantityFormatter, crops: dict[int, Crop]
) -> SheetPlace:
    """Where, when and what at one place: a site (its address, the pickup's window on the
    round's date, the route's note) or the farm (the surplus)."""
    day = format_date(round_.date, "full")
    if load.site is None:
        return SheetPlace(
            _("Surplus of the round"),
            _("at the farm"),
            day,
            "",
            lines_of(load.milli, crops, fmt),
        )
    site = load.site
    window = f"{format_clock(site.opens)}–{format_clock(site.closes)}"
    when = f"{day}, {window}" + (f" · {load.note}" if load.note else "")
    return SheetPlace(
        site.name, site.address, when, _shares_text(load), lines_of(load.milli, crops, fmt)
    )


def partner_sheet(donations: RoundDonations, load: PartnerLoad) -> PartnerSheet:
    fmt = QuantityFormatter()
    partner = load.partner
    round_ = donations.round
    contact = " · ".join(x for x in (partner.contact_name, partner.phone, partner.email) if x)
    return PartnerSheet(
        farm=str(current_app.config["FARM_NAME"]),
        partner=partner.name,
        contact=contact,
        pickup_note=partner.pickup_note,
        date_text=format_date(round_.date, "full"),
        round_date=round_.date.isoformat(),
        places=[place_of(p, round_, fmt, donations.crops) for p in load.places],
        totals=lines_of(load.milli, donations.crops, fmt),
    )


def sheet_pdf(round_: Round, partner: PartnerOrganisation) -> bytes:
    """The partner's pickup sheet of a locked round (empty places say so)."""
    donations = round_donations(round_)
    load = donations.of(partner.id) or PartnerLoad(partner)
    return render_pdf("donations/sheet.html", sheet=partner_sheet(donations, load))


def file_name(round_: Round, partner: PartnerOrganisation) -> str:
    base = slugify(partner.name) or "partner"
    return f"donations-{round_.date.isoformat()}-{base}-{partner.id}.pdf"


def notice_attachment(notice_id: int) -> Attachment:
    """The PDF a partner's mail carries, made when the mail is sent (in the farm's language)."""
    notice = db.session.get(DonationNotice, notice_id)
    if notice is None:
        raise AttachmentMissing(f"no donation notice {notice_id}")
    round_ = db.session.get(Round, notice.round_id)
    partner = db.session.get(PartnerOrganisation, notice.partner_id)
    if round_ is None or partner is None or not round_.is_locked:
        raise AttachmentMissing(f"the round or partner of donation notice {notice_id} is gone")
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        data = sheet_pdf(round_, partner)
    return Attachment(file_name(round_, partner), "application", "pdf", data)
