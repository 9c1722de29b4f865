"""A household's data, written: the audit of downloads, deletion requests, and anonymising a
household after its last season. These flush only; the view or the command commits.

Anonymising removes the personal data and keeps the figures: the household row stays (as
"Household #<id>", with an address that cannot receive mail) with its memberships, holds,
opt-outs and allocations, because the season's fairness ledger and its accounts are made
of them (every other member's balance was computed with them). What is removed, table by
table, is the list `SCRUBBERS`: a table added later that holds a household's personal
data (sign-up requests, renewals, offers, co-member logins) adds its function there, as it
adds its rows to the download (csa/privacy/export.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete, or_, select

from csa.accounts.operations import end_sessions, mail_locale
from csa.core.clock import utcnow
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.models import (
    LoginThrottle,
    Member,
    Membership,
    OutboxMessage,
    OutboxState,
    PrivacyEvent,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestState,
    Renewal,
    Role,
    SignupRequest,
    User,
)
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed
from csa.privacy.export import household_addresses, household_logins

# PrivacyEvent.action values.
EXPORTED = "exported"
REQUESTED = "requested"
REFUSED = "refused"
ANONYMISED = "anonymised"

TEXT_MAX = 2000  # a request's reason and a refusal's answer
REMOVED = "[removed]"  # the subject of an e-mail to an anonymised household


def anonymous_name(member: Member) -> str:
    """The name an anonymised household keeps (stored, so the same in every language)."""
    return f"Household #{member.id}"


def anonymous_email(member: Member) -> str:
    """A unique address no mail can reach (".invalid" is reserved, RFC 2606)."""
    return f"anonymised-{member.id}@invalid"


def anonymous_login_email(user: User) -> str:
    return f"anonymised-login-{user.id}@invalid"


def log_event(member: Member, action: str, by: User | None) -> PrivacyEvent:
    event = PrivacyEvent(member_id=member.id, action=action, by_id=by.id if by else None)
    db.session.add(event)
    db.session.flush()
    return event


def record_export(member: Member, by: User) -> PrivacyEvent:
    """Note that the household's data was downloaded (the audit coordinators read)."""
    return log_event(member, EXPORTED, by)


def anonymised_event(member: Member) -> PrivacyEvent | None:
    return db.session.scalar(
        select(PrivacyEvent)
        .where(PrivacyEvent.member_id == member.id, PrivacyEvent.action == ANONYMISED)
        .order_by(PrivacyEvent.id)
        .limit(1)
    )


def open_request(member: Member) -> PrivacyRequest | None:
    return db.session.scalar(
        select(PrivacyRequest)
        .where(
            PrivacyRequest.member_id == member.id,
            PrivacyRequest.state == PrivacyRequestState.REQUESTED,
        )
        .order_by(PrivacyRequest.id)
        .limit(1)
    )


def _lock(row: Member | PrivacyRequest) -> None:
    """Hold the row until the commit (PostgreSQL), so two requests sent at once, or two
    coordinators answering at once, act one after the other and the second sees what the
    first did. SQLite writes one transaction at a time anyway."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.refresh(row, with_for_update=True)


def _text(field: str, value: str, required: str | None = None) -> str:
    value = value.strip()
    if required and not value:
        raise FieldError(field, required)
    if len(value) > TEXT_MAX:
        raise FieldError(field, _("Write at most %(max)d characters.", max=TEXT_MAX))
    return value


# --- deletion requests -----------------------------------------------------------------------


def request_deletion(member: Member, by: User, reason: str) -> PrivacyRequest:
    """Ask the farm to delete the household's data; the coordinators are told by e-mail."""
    reason = _text("reason", reason)
    _lock(member)
    if anonymised_event(member) is not None:
        raise ValidationFailed(_("Your household's personal data was removed already."))
    pending = open_request(member)
    if pending is not None:
        raise ValidationFailed(
            _(
                "You asked on %(date)s already; the farm has not answered yet.",
                date=pending.requested_at.date().isoformat(),
            )
        )
    row = PrivacyRequest(
        member_id=member.id,
        kind=PrivacyRequestKind.DELETION,
        state=PrivacyRequestState.REQUESTED,
        reason=reason,
        answer="",
        requested_by_id=by.id,
        requested_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    log_event(member, REQUESTED, by)
    _tell_coordinators(row)
    return row


def coordinators() -> list[User]:
    """Who is told of a request: the active coordinators (the admins when there are none)."""
    for role in (Role.COORDINATOR, Role.ADMIN):
        found = list(
            db.session.scalars(
                select(User).where(User.role == role, User.active.is_(True)).order_by(User.id)
            )
        )
        if found:
            return found
    return []


def requests_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/privacy/requests"


def _tell_coordinators(request: PrivacyRequest) -> None:
    # The mail names the household by number only, so it holds no personal data to remove
    # when the household is anonymised.
    for user in coordinators():
        with force_locale(mail_locale(user)):
            subject = _("Household #%(id)s asks for its data to be deleted", id=request.member_id)
            body = render_template(
                "mail/privacy_request.txt", request=request, user=user, url=requests_url()
            )
        mail.send(f"privacy-request/{request.id}/{user.id}", user.email, subject, body)


def refuse_request(request: PrivacyRequest, by: User | None, answer: str) -> None:
    """Refuse an open request with a reason the household reads (on its page and by mail)."""
    answer = _text("answer", answer, required=_("Say why, for the household to read."))
    _lock(request)
    if request.state != PrivacyRequestState.REQUESTED:
        raise ValidationFailed(_("This request was answered already."))
    request.state = PrivacyRequestState.REFUSED
    request.answer = answer
    request.decided_by_id = by.id if by else None
    request.decided_at = utcnow()
    db.session.flush()
    log_event(request.member, REFUSED, by)
    member = request.member
    for to in household_recipients(member):
        with force_locale(to.locale):
            subject = _("Your request to delete your data")
            body = render_template("mail/privacy_refused.txt", member=member, request=request)
        mail.send(keyed(f"privacy-refused/{request.id}", to), to.email, subject, body)


# --- anonymising -----------------------------------------------------------------------------


def running_membership(member: Member, today: date) -> Membership | None:
    """The membership that ends last among those ending today or later, if any."""
    return db.session.scalar(
        select(Membership)
        .where(Membership.member_id == member.id, Membership.end >= today)
        .order_by(Membership.end.desc())
        .limit(1)
    )


def anonymise_refusal(member: Member, today: date) -> str | None:
    """Why the household cannot be anonymised today, or None when it can."""
    done = anonymised_event(member)
    if done is not None:
        return _(
            "%(name)s was anonymised on %(date)s; there is nothing left to remove.",
            name=member.name,
            date=done.at.date().isoformat(),
        )
    running = running_membership(member, today)
    if running is not None:
        return _(
            "%(name)s has a membership until %(end)s (%(season)s): a household is anonymised "
            "only after its last season has ended.",
            name=member.name,
            end=running.end.isoformat(),
            season=running.season.name,
        )
    return None


@dataclass(frozen=True)
class Personal:
    """What identified the household before it was anonymised (the scrubbers' input)."""

    name: str
    addresses: frozenset[str]


Scrubber = Callable[[Member, Personal], None]


def _scrub_outbox(member: Member, old: Personal) -> None:
    """E-mails to its addresses lose recipient, subject, body and sealed text; unsent ones
    are not sent; the household's name and addresses go from every other message too."""
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to.in_(old.addresses)))
    for row in rows:
        row.to = anonymous_email(member)
        row.subject = REMOVED
        row.body = ""
        row.sealed = None
        row.last_error = ""
        if row.state != OutboxState.SENT:
            row.state = OutboxState.FAILED
    replacements = [(a, anonymous_email(member)) for a in old.addresses]
    if old.name.strip():
        replacements.append((old.name, anonymous_name(member)))
    for text, new in replacements:
        mentions = db.session.scalars(
            select(OutboxMessage).where(
                or_(
                    OutboxMessage.subject.contains(text, autoescape=True),
                    OutboxMessage.body.contains(text, autoescape=True),
                    OutboxMessage.last_error.contains(text, autoescape=True),
                )
            )
        )
        for row in mentions:
            row.subject = row.subject.replace(text, new)
            row.body = row.body.replace(text, new)
            row.last_error = row.last_error.replace(text, new)
    db.session.flush()


def _scrub_throttles(member: Member, old: Personal) -> None:
    """Counted sign-in attempts name the address: they go."""
    db.session.execute(delete(LoginThrottle).where(LoginThrottle.email.in_(old.addresses)))


def _scrub_logins(member: Member, old: Personal) -> None:
    """Each member login stays (its events point at it) but cannot sign in and says nothing.

    A staff login tied to the household (a coordinator who was also a member) is only
    untied: it is the person's working login, and anonymising must never lock staff out.
    """
    for user in household_logins(member):
        if user.role != Role.MEMBER:
            user.member_id = None
            continue
        user.email = anonymous_login_email(user)
        user.name = ""
        user.phone = ""
        user.password_hash = ""
        user.locale = ""
        user.active = False
        end_sessions(user)


def _scrub_requests(member: Member, old: Personal) -> None:
    """The household's own words in its requests (the answers were the farm's)."""
    for request in db.session.scalars(
        select(PrivacyRequest).where(PrivacyRequest.member_id == member.id)
    ):
        request.reason = ""


def _scrub_signups(member: Member, old: Personal) -> None:
    """Its sign-up requests held the same details as the household: they go the same way."""
    for request in db.session.scalars(
        select(SignupRequest).where(
            or_(SignupRequest.member_id == member.id, SignupRequest.email.in_(old.addresses))
        )
    ):
        request.name = anonymous_name(member)
        request.email = anonymous_email(member)
        request.phone = ""
        request.address = ""
        request.token_hash = None


def _scrub_renewals(member: Member, old: Personal) -> None:
    """A declined renewal's reason is the household's own words."""
    ids = [m.id for m in member.memberships]
    for renewal in db.session.scalars(select(Renewal).where(Renewal.membership_id.in_(ids))):
        renewal.decline_reason = ""


def _scrub_direct_debits(member: Member, old: Personal) -> None:
    """Mandates keep their reference and dates (a bank may ask for them); the account
    holder and the account go, from the mandates and from the bank files kept of their
    batches. A hardship arrangement's note goes too."""
    from xml.sax.saxutils import escape

    from text_unidecode import unidecode

    from csa.models import DebitBatch, DebitItem, Hardship, Mandate
    from csa.sepa.rules import mask_iban

    for mandate in db.session.scalars(select(Mandate).where(Mandate.member_id == member.id)):
        masked = mask_iban(mandate.iban)
        holder = {mandate.holder_name, unidecode(mandate.holder_name)[:70]} - {""}
        batches = db.session.scalars(
            select(DebitBatch).where(
                DebitBatch.id.in_(
                    select(DebitItem.batch_id).where(DebitItem.mandate_id == mandate.id)
                )
            )
        )
        for batch in batches:
            for text in sorted(holder, key=len, reverse=True):
                batch.xml = batch.xml.replace(escape(text), anonymous_name(member))
            batch.xml = batch.xml.replace(mandate.iban, masked)
        mandate.holder_name = anonymous_name(member)
        mandate.iban = masked
        mandate.bic = ""
    for hardship in db.session.scalars(select(Hardship).where(Hardship.member_id == member.id)):
        hardship.note = ""


def _scrub_household(member: Member, old: Personal) -> None:
    member.name = anonymous_name(member)
    member.email = anonymous_email(member)
    member.phone = ""
    member.address = ""
    member.notes = ""
    member.calendar_token = secrets.token_urlsafe(24)  # the old feed link stops working


# In order: the outbox is matched by the addresses before the logins lose them.
SCRUBBERS: list[Scrubber] = [
    _scrub_outbox,
    _scrub_throttles,
    _scrub_logins,
    _scrub_requests,
    _scrub_signups,
    _scrub_renewals,
    _scrub_direct_debits,
    _scrub_household,
]


def anonymise(member: Member, by: User | None, today: date) -> PrivacyEvent:
    """Remove the household's personal data after its last season; keep its figures.

    Refused (nothing written) while a membership ends today or later, and for a household
    anonymised already. Open deletion requests are marked done.
    """
    _lock(member)
    refusal = anonymise_refusal(member, today)
    if refusal is not None:
        raise ValidationFailed(refusal)
    # A staff login's address stays its own, with the mail sent to it (see _scrub_logins).
    staff = {u.email for u in household_logins(member) if u.role != Role.MEMBER}
    old = Personal(member.name, frozenset(household_addresses(member) - staff))
    for scrub in SCRUBBERS:
        scrub(member, old)
    now = utcnow()
    for request in db.session.scalars(
        select(PrivacyRequest).where(
            PrivacyRequest.member_id == member.id,
            PrivacyRequest.state == PrivacyRequestState.REQUESTED,
        )
    ):
        request.state = PrivacyRequestState.DONE
        request.decided_by_id = by.id if by else None
        request.decided_at = now
    db.session.flush()
    return log_event(member, ANONYMISED, by)
