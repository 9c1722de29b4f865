"""Everything the farm holds about one household, as a zip of JSON and CSV.

The download is built from a registry of *household data sources*: functions that take the
household and return `(name, rows)`, each row a flat dict of plain values. The zip holds
`household.json` (every source, nested under its name), one `<name>.csv` per source
(written through csa/core/csvfile, which guards cells a spreadsheet would run as formulas)
and a README.txt saying what each file is, from the description each source registers.

A table added later that holds something about a household joins the download with one
entry: a function decorated with `@household_data(_l("what the file holds"))`, reading only
rows of that household (sign-up requests, renewals, offers, co-member logins, a holds log).
Its personal data must also be removed when the household is anonymised: add a scrubber to
csa/privacy/operations.py's `SCRUBBERS` the same way.

What is never exported: password hashes, session versions, tokens (calendar feed, links)
and the sealed text of e-mails; the e-mails appear as the Sent messages page shows them.
Everything here only reads.
"""

from __future__ import annotations

import enum
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from fractions import Fraction
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from csa.core.clock import utcnow
from csa.core.csvfile import csv_text
from csa.core.money import cents_to_str
from csa.core.quantity import milli_to_str
from csa.extensions import db
from csa.models import (
    AccountEvent,
    Allocation,
    Crop,
    Hold,
    HoldLog,
    Invoice,
    Member,
    Membership,
    MembershipChange,
    OptOut,
    OutboxMessage,
    Payment,
    PlaceOffer,
    PrivacyEvent,
    PrivacyRequest,
    Renewal,
    Round,
    SignupRequest,
    User,
)

Row = dict[str, Any]
DataSource = Callable[[Member], tuple[str, list[Row]]]
FORMAT = "csa household data 1"


@dataclass(frozen=True)
class Source:
    read: DataSource
    description: Any  # a lazy string: the README is written in the reader's language


# The registry, in the order the README lists the files.
SOURCES: list[Source] = []


def household_data(description: Any) -> Callable[[DataSource], DataSource]:
    """Register a household data source; `description` is its README line (lazy text)."""

    def register(read: DataSource) -> DataSource:
        SOURCES.append(Source(read, description))
        return read

    return register


def plain(value: Any) -> Any:
    """A value JSON and CSV can both hold: dates in ISO form, enums as their value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Fraction):
        return str(value)
    return value


def household_logins(member: Member) -> list[User]:
    """Every login of the household (one today; co-members add more)."""
    return list(db.session.scalars(select(User).where(User.member_id == member.id)))


def household_addresses(member: Member) -> set[str]:
    """The e-mail addresses the household and its logins have now."""
    return {member.email, *(u.email for u in household_logins(member))}


# --- the sources -----------------------------------------------------------------------------


@household_data(_l("The household itself: name, e-mail, phone, address, notes and language."))
def _household(member: Member) -> tuple[str, list[Row]]:
    row = {
        "id": member.id,
        "name": member.name,
        "email": member.email,
        "phone": member.phone,
        "address": member.address,
        "notes": member.notes,
        "locale": member.locale,
        "created_at": member.created_at,
    }
    return "household", [row]


@household_data(
    _l("The logins of the household: e-mail, name, phone, language, role (never passwords).")
)
def _logins(member: Member) -> tuple[str, list[Row]]:
    rows = [
        {
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "phone": u.phone,
            "locale": u.locale,
            "role": u.role,
            "active": u.active,
            "password_set": bool(u.password_hash),
            "created_at": u.created_at,
        }
        for u in sorted(household_logins(member), key=lambda u: u.id)
    ]
    return "logins", rows


def _memberships_of(member: Member) -> list[Membership]:
    return list(
        db.session.scalars(
            select(Membership).where(Membership.member_id == member.id).order_by(Membership.start)
        )
    )


@household_data(_l("Each season's membership: share type, shares, pickup site, dates, status."))
def _memberships(member: Member) -> tuple[str, list[Row]]:
    rows = [
        {
            "id": m.id,
            "season": m.season.name,
            "share_type": m.share_type.name,
            "shares": m.shares,
            "pickup_site": m.site.name,
            "start": m.start,
            "end": m.end,
            "status": m.status,
            "waiting_rank": m.waiting_rank,
        }
        for m in _memberships_of(member)
    ]
    return "memberships", rows


@household_data(_l("The rounds the household was away, and what happened to its share."))
def _holds(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(Hold)
        .join(Membership, Membership.id == Hold.membership_id)
        .where(Membership.member_id == member.id)
        .order_by(Hold.round_date)
    )
    rows = [
        {
            "membership_id": h.membership_id,
            "round_date": h.round_date,
            "mode": h.mode,
            "created_at": h.created_at,
        }
        for h in db.session.scalars(query)
    ]
    return "holds", rows


@household_data(_l("The crops the household never wants."))
def _opt_outs(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(OptOut.membership_id, Crop.name)
        .join(Membership, Membership.id == OptOut.membership_id)
        .join(Crop, Crop.id == OptOut.crop_id)
        .where(Membership.member_id == member.id)
        .order_by(OptOut.membership_id, Crop.name)
    )
    rows = [{"membership_id": mid, "crop": name} for mid, name in db.session.execute(query)]
    return "opt_outs", rows


def entitlement_text(num: int, den: int, step_milli: int) -> str:
    """An exact entitlement in steps as an amount of the crop's unit, to three decimals."""
    milli = Fraction(num, den) * step_milli
    return milli_to_str(round(milli))


@household_data(
    _l(
        "What the household received in each locked round: crop, quantity and unit, the "
        "entitlement (its fair part) and whether it was donated."
    )
)
def _allocations(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(Allocation, Round.date, Crop)
        .join(Membership, Membership.id == Allocation.membership_id)
        .join(Round, Round.id == Allocation.round_id)
        .join(Crop, Crop.id == Allocation.crop_id)
        .where(Membership.member_id == member.id)
        .order_by(Round.date, Crop.name)
    )
    rows = [
        {
            "membership_id": a.membership_id,
            "round_date": day,
            "crop": crop.name,
            "quantity": milli_to_str(a.quantity_milli),
            "unit": crop.unit,
            "entitlement": entitlement_text(a.entitled_num, a.entitled_den, crop.step_milli),
            "donated": a.donated,
        }
        for a, day, crop in db.session.execute(query)
    ]
    return "allocations", rows


@household_data(
    _l("Direct-debit mandates: account holder, IBAN, BIC, reference, dates, collections.")
)
def _mandates(member: Member) -> tuple[str, list[Row]]:
    from csa.models import DebitBatch, DebitItem, Invoice, Mandate

    rows: list[Row] = []
    for mandate in db.session.scalars(
        select(Mandate).where(Mandate.member_id == member.id).order_by(Mandate.id)
    ):
        base = {
            "reference": mandate.reference,
            "holder_name": mandate.holder_name,
            "iban": mandate.iban,
            "bic": mandate.bic,
            "signed_on": plain(mandate.signed_on),
            "kind": plain(mandate.kind),
            "revoked_on": plain(mandate.revoked_on),
        }
        debits = db.session.execute(
            select(
                DebitBatch.collect_on, Invoice.number, DebitItem.amount_cents, DebitItem.sequence
            )
            .join(DebitItem, DebitItem.batch_id == DebitBatch.id)
            .join(Invoice, Invoice.id == DebitItem.invoice_id)
            .where(DebitItem.mandate_id == mandate.id)
            .order_by(DebitBatch.collect_on, DebitItem.id)
        ).all()
        rows.append(
            {**base, "collect_on": None, "invoice": None, "amount_cents": None, "sequence": None}
        )
        for collect_on, number, cents, sequence in debits:
            rows.append(
                {
                    **base,
                    "collect_on": plain(collect_on),
                    "invoice": number,
                    "amount_cents": cents,
                    "sequence": sequence,
                }
            )
    return "mandates", rows


@household_data(_l("What happened to the logins' passwords and addresses, and when."))
def _account_events(member: Member) -> tuple[str, list[Row]]:
    ids = [u.id for u in household_logins(member)]
    query = select(AccountEvent).where(AccountEvent.user_id.in_(ids)).order_by(AccountEvent.at)
    rows = [
        {
            "login_id": e.user_id,
            "action": e.action,
            "by": "" if e.by_id is None else ("self" if e.by_id == e.user_id else "farm staff"),
            "at": e.at,
        }
        for e in db.session.scalars(query)
    ]
    return "account_events", rows


@household_data(
    _l(
        "The e-mails the farm sent (or is sending) to the household's addresses, as the farm's "
        "Sent messages page shows them (links that grant access are replaced)."
    )
)
def _emails(member: Member) -> tuple[str, list[Row]]:
    addresses = sorted(household_addresses(member))
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.to.in_(addresses))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )
    rows = [
        {
            "to": m.to,
            "subject": m.subject,
            "body": m.body,
            "state": m.state,
            "created_at": m.created_at,
            "sent_at": m.sent_at,
        }
        for m in db.session.scalars(query)
    ]
    return "emails", rows


@household_data(_l("The household's requests about its data, and their answers."))
def _privacy_requests(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.member_id == member.id)
        .order_by(PrivacyRequest.requested_at)
    )
    rows = [
        {
            "kind": r.kind,
            "state": r.state,
            "reason": r.reason,
            "answer": r.answer,
            "requested_at": r.requested_at,
            "decided_at": r.decided_at,
        }
        for r in db.session.scalars(query)
    ]
    return "privacy_requests", rows


def _own_memberships(member: Member) -> list[int]:
    return [m.id for m in member.memberships]


@household_data(
    _l("The household's sign-up requests: details, choices, terms accepted, and their state.")
)
def _signup_requests(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(SignupRequest)
        .where(
            or_(
                SignupRequest.member_id == member.id,
                SignupRequest.email.in_(sorted(household_addresses(member))),
            )
        )
        .order_by(SignupRequest.created_at, SignupRequest.id)
    )
    rows = [
        {
            "name": r.name,
            "email": r.email,
            "phone": r.phone,
            "address": r.address,
            "locale": r.locale,
            "season": r.season.name,
            "share_type": r.share_type.name,
            "shares": r.shares,
            "pickup_site": r.site.name,
            "terms_version": r.terms.version if r.terms else None,
            "terms_accepted_at": r.terms_accepted_at,
            "privacy_accepted_at": r.privacy_accepted_at,
            "state": r.state,
            "created_at": r.created_at,
            "confirmed_at": r.confirmed_at,
            "decided_at": r.decided_at,
            "decline_reason": r.decline_reason,
        }
        for r in db.session.scalars(query)
    ]
    return "signup_requests", rows


@household_data(_l("Invitations to renew into the next season, the answers and their dates."))
def _renewals(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(Renewal)
        .where(Renewal.membership_id.in_(_own_memberships(member)))
        .order_by(Renewal.invited_at, Renewal.id)
    )
    rows = [
        {
            "next_season": r.next_season.name,
            "state": r.state,
            "share_type": r.share_type.name,
            "shares": r.shares,
            "pickup_site": r.site.name,
            "deadline": r.deadline,
            "invited_at": r.invited_at,
            "reminded_at": r.reminded_at,
            "answered_at": r.answered_at,
            "decline_reason": r.decline_reason,
        }
        for r in db.session.scalars(query)
    ]
    return "renewals", rows


@household_data(_l("Places offered to the household from a waiting list, and the answers."))
def _place_offers(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(PlaceOffer)
        .where(PlaceOffer.membership_id.in_(_own_memberships(member)))
        .order_by(PlaceOffer.offered_at, PlaceOffer.id)
    )
    rows = [
        {
            "pickup_site": o.site.name,
            "season": o.season.name,
            "state": o.state,
            "offered_at": o.offered_at,
            "expires_at": o.expires_at,
            "answered_at": o.answered_at,
        }
        for o in db.session.scalars(query)
    ]
    return "place_offers", rows


@household_data(_l("Changes of share type, number of shares or site asked for, and decisions."))
def _membership_changes(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(MembershipChange)
        .where(MembershipChange.membership_id.in_(_own_memberships(member)))
        .order_by(MembershipChange.requested_at, MembershipChange.id)
    )
    rows = [
        {
            "effective": c.effective,
            "share_type": c.share_type.name,
            "shares": c.shares,
            "pickup_site": c.site.name,
            "state": c.state,
            "reason": c.reason,
            "requested_at": c.requested_at,
            "decided_at": c.decided_at,
        }
        for c in db.session.scalars(query)
    ]
    return "membership_changes", rows


@household_data(_l("Who put the household's holds on or took them off, and when."))
def _hold_log(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(HoldLog)
        .where(HoldLog.membership_id.in_(_own_memberships(member)))
        .order_by(HoldLog.at, HoldLog.id)
    )
    rows = [
        {
            "round_date": h.round_date,
            "action": h.action,
            "mode": h.mode,
            "by": "household" if h.by is None or h.by.member_id == member.id else "farm",
            "at": h.at,
        }
        for h in db.session.scalars(query)
    ]
    return "hold_log", rows


@household_data(_l("What was done with the household's data: downloads, requests, anonymising."))
def _privacy_events(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(PrivacyEvent)
        .where(PrivacyEvent.member_id == member.id)
        .order_by(PrivacyEvent.at, PrivacyEvent.id)
    )
    rows = [{"action": e.action, "at": e.at} for e in db.session.scalars(query)]
    return "privacy_events", rows


@household_data(_l("Invoices and credit notes: number, dates, lines, amount, payment reference."))
def _invoices(member: Member) -> tuple[str, list[Row]]:
    query = (
        select(Invoice).where(Invoice.member_id == member.id).order_by(Invoice.year, Invoice.seq)
    )
    rows = [
        {
            "number": i.number,
            "kind": i.kind,
            "corrects": i.credits.number if i.credits else "",
            "issued_on": i.issued_on,
            "due_on": i.due_on,
            "amount": cents_to_str(i.total_cents),
            "currency": i.currency,
            "reference": i.reference,
            "name": i.buyer_name,
            "address": i.buyer_address,
            "lines": " | ".join(line.description for line in i.lines),
        }
        for i in db.session.scalars(query)
    ]
    return "invoices", rows


@household_data(_l("Payments received from the household and the invoices they settled."))
def _payments(member: Member) -> tuple[str, list[Row]]:
    query = select(Payment).where(Payment.member_id == member.id).order_by(Payment.booked_on)
    rows = [
        {
            "booked_on": p.booked_on,
            "amount": cents_to_str(p.amount_cents),
            "currency": p.currency,
            "method": p.method,
            "payer": p.payer_name,
            "reference": p.reference,
            "settled": " | ".join(
                f"{a.invoice.number}: {cents_to_str(a.amount_cents)}" for a in p.allocations
            ),
        }
        for p in db.session.scalars(query)
    ]
    return "payments", rows


# --- the zip ---------------------------------------------------------------------------------


def gather(member: Member) -> dict[str, list[Row]]:
    """Every source's rows, in plain values, by name."""
    found: dict[str, list[Row]] = {}
    for source in SOURCES:
        name, rows = source.read(member)
        found[name] = [{k: plain(v) for k, v in row.items()} for row in rows]
    return found


def _readme(member: Member, names: list[str], at: datetime) -> str:
    lines = [
        _("Everything the farm holds about household %(id)s.", id=member.id),
        _("Made on %(when)s (UTC).", when=at.strftime("%Y-%m-%d %H:%M")),
        "",
        _('household.json: every file below in one document, each under its name in "data".'),
        "",
    ]
    for name, source in zip(names, SOURCES, strict=True):
        lines.append(f"{name}.csv: {source.description}")
    lines += [
        "",
        _(
            "An empty file means the farm holds nothing of that kind. Dates are ISO 8601, "
            "times UTC; quantities are in the unit named beside them."
        ),
        _(
            "Not included, because they are secrets rather than data about you: password "
            "hashes, session counters, the calendar feed's key and the links in e-mails."
        ),
    ]
    return "\n".join(lines) + "\n"


def household_zip(member: Member) -> bytes:
    """The zip a member downloads: household.json, a CSV per source and README.txt."""
    at = utcnow()
    data = gather(member)
    names = list(data)
    document = {"format": FORMAT, "household_id": member.id, "exported_at": plain(at), "data": data}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", _readme(member, names, at))
        archive.writestr(
            "household.json", json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
        )
        for name, rows in data.items():
            header = list(rows[0]) if rows else []
            text = csv_text(header, ([r[k] for k in header] for r in rows)) if rows else ""
            archive.writestr(f"{name}.csv", text)
    return out.getvalue()
