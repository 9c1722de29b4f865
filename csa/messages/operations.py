"""Writing messages, opting out of them, and site notes. Every function flushes; the view (or
the demo, or a test) commits once, so a message is queued for every recipient or for none.

Sending writes the message, one recipient row per address (or per household without one),
and one outbox row per address, in the caller's transaction; csa/notices/outbox.py delivers
them afterwards, one per commit, with its retries. The unsubscribe link is derived from
SECRET_KEY and the recipient (message, household, address key); only its sha256 is stored,
and the outbox keeps the link only sealed (body and List-Unsubscribe header) until sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from csa.core.clock import utcnow
from csa.errors import FieldError, ValidationFailed
from csa.extensions import db
from csa.messages import files
from csa.messages.audience import Choice, resolve
from csa.models import (
    AudienceKind,
    Member,
    Message,
    MessageOptOut,
    MessageRecipient,
    PickupSite,
    RecipientState,
    Round,
    SiteNote,
    User,
)
from csa.notices import mail
from csa.notices.attachments import reference
from csa.notices.recipients import household_recipients, keyed, load_logins
from csa.sheets.annotations import request_refresh

log = logging.getLogger(__name__)

TOKEN_INFO = b"csa message unsubscribe v1:"
DEFAULT_PER_HOUR = 10


@dataclass(frozen=True)
class Draft:
    """What a sender wrote (already cleaned and length-checked by the form)."""

    subject: str
    body: str
    locale2: str = ""
    subject2: str = ""
    body2: str = ""
    essential: bool = False


# --- the unsubscribe link -------------------------------------------------------------------


def unsubscribe_token(message_id: int, member_id: int, key: str) -> str:
    """The secret of one recipient's unsubscribe link (only its sha256 is stored)."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    text = TOKEN_INFO + f"{message_id}:{member_id}:{key}".encode()
    digest = hmac.new(secret, text, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def unsubscribe_url(token: str) -> str:
    """Absolute, for mails (no request to take the host from)."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/messages/unsubscribe/{token}"


def recipient_by_token(token: str) -> MessageRecipient | None:
    if not token or len(token) > 100:
        return None
    return db.session.scalar(
        select(MessageRecipient).where(MessageRecipient.token_hash == token_hash(token))
    )


def opted_out(member_id: int) -> bool:
    return db.session.get(MessageOptOut, member_id) is not None


def unsubscribe(member_id: int) -> bool:
    """Opt a household out of non-essential messages; False if it already was (a second
    click, or the mail program's one-click POST after the person's own)."""
    if opted_out(member_id):
        return False
    db.session.add(MessageOptOut(member_id=member_id))
    db.session.flush()
    log.info("household %s unsubscribed from messages", member_id)
    return True


def resubscribe(member_id: int) -> bool:
    """Take a household's opt-out back; False if there was none."""
    found = db.session.get(MessageOptOut, member_id)
    if found is None:
        return False
    db.session.delete(found)
    db.session.flush()
    return True


# --- sending --------------------------------------------------------------------------------


def check_rate(sender: User, now: datetime) -> None:
    """Refuse a sender's message past MESSAGES_PER_HOUR in the last hour."""
    limit = int(current_app.config.get("MESSAGES_PER_HOUR", DEFAULT_PER_HOUR))
    sent = db.session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.sender_id == sender.id, Message.created_at > now - timedelta(hours=1))
    )
    if int(sent or 0) >= limit:
        raise ValidationFailed(
            _(
                "You sent %(count)s messages in the last hour, the most allowed; nothing was "
                "sent. Try again later.",
                count=limit,
            )
        )


def version_for(message: Message, locale: str) -> tuple[str, str]:
    """The subject and body a reader of this language gets: the second version if it is in
    that language, else the first, as written."""
    if message.locale2 and locale == message.locale2 and message.body2:
        return message.subject2 or message.subject, message.body2
    return message.subject, message.body


def _mail_body(message: Message, member: Member, locale: str, body: str, unsub: str) -> str:
    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        return render_template(
            "mail/message.txt",
            message=message,
            member=member,
            body=body,
            unsubscribe=unsub,
            inbox_url=f"{current_app.config['BASE_URL'].rstrip('/')}/messages/inbox/{message.id}",
        )


def send(
    sender: User,
    choice: Choice,
    draft: Draft,
    today: date,
    upload: files.Upload | None = None,
    now: datetime | None = None,
) -> tuple[Message, Path | None]:
    """Write a message to every household the choice names, and queue its mails; flushes.

    Returns the message and the attachment file written (the caller removes it with
    `files.discard` if its commit fails). Raises ValidationFailed, before writing anything,
    past the rate limit or for an audience with nobody in it.
    """
    now = now or utcnow()
    check_rate(sender, now)
    if choice.kind == AudienceKind.ROUND and draft.essential is False:
        # A farmer's word on a round's contents is what the member came for.
        draft = Draft(draft.subject, draft.body, draft.locale2, draft.subject2, draft.body2, True)
    resolved = resolve(choice, today)
    if not resolved.member_ids:
        raise FieldError("audience", _("Nobody is in this audience; nothing was sent."))
    message = Message(
        sender_id=sender.id,
        audience_kind=choice.kind,
        audience_key=choice.key,
        audience=resolved.description[:500],
        round_id=choice.round_id if choice.kind == AudienceKind.ROUND else None,
        subject=draft.subject,
        body=draft.body,
        locale2=draft.locale2 if draft.body2 else "",
        subject2=draft.subject2 if draft.body2 else "",
        body2=draft.body2,
        reply_to=sender.email,
        essential=draft.essential,
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    path = files.store(message, upload) if upload is not None else None
    try:
        members = list(
            db.session.scalars(
                select(Member).where(Member.id.in_(sorted(resolved.member_ids))).order_by(Member.id)
            )
        )
        load_logins(members)
        out = set(
            db.session.scalars(
                select(MessageOptOut.member_id).where(
                    MessageOptOut.member_id.in_(sorted(resolved.member_ids))
                )
            )
        )
        # The outbox keys are new (they name this message), so the outbox's check for a key
        # queued before need not flush every pending row first: 3x faster for many rows.
        with db.session.no_autoflush:
            for member in members:
                _queue(message, member, member.id in out)
        db.session.flush()
    except BaseException:
        files.discard(path)
        raise
    log.info("message %s by %s to %s households", message.id, sender.id, len(members))
    return message, path


def _queue(message: Message, member: Member, unsubscribed: bool) -> None:
    """The recipient rows of one household, and an outbox row per address."""
    if not message.essential and unsubscribed:
        state = RecipientState.UNSUBSCRIBED
        db.session.add(MessageRecipient(message=message, member_id=member.id, state=state))
        return
    addresses = household_recipients(member)
    if not addresses:
        state = RecipientState.NO_ADDRESS
        db.session.add(MessageRecipient(message=message, member_id=member.id, state=state))
        return
    attachment = reference(files.KIND, message.id) if message.attachment_path else None
    for to in addresses:
        subject, body = version_for(message, to.locale)
        token = unsubscribe_token(message.id, member.id, to.key)
        unsub = "" if message.essential else unsubscribe_url(token)
        row = mail.send(
            keyed(f"message/{message.id}/{member.id}", to),
            to.email,
            subject,
            _mail_body(message, member, to.locale, body, unsub),
            redact=[unsub] if unsub else (),
            attachment=attachment,
            reply_to=message.reply_to,
            sealed_headers={
                "List-Unsubscribe": f"<{unsub}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
            if unsub
            else None,
        )
        db.session.add(
            MessageRecipient(
                message=message,
                member_id=member.id,
                email=to.email,
                locale=to.locale,
                state=RecipientState.MAILED,
                outbox_message=row,
                token_hash=None if message.essential else token_hash(token),
            )
        )


def hide(message: Message, hidden: bool) -> None:
    """Hide a message from the members' pages (or show it again); mails already sent stay."""
    message.hidden = hidden
    db.session.flush()


# --- site notes -----------------------------------------------------------------------------


def set_site_note(site: PickupSite, round_: Round, text: str, author: User, today: date) -> bool:
    """Write, change or (with empty text) remove a site's note for a round; flushes.

    Returns whether anything changed. A locked round's sheets are made again, as the note
    is printed at the top of the site's pickup list.
    """
    if round_.date < today:
        raise FieldError("round_id", _("That round is over; its note can no longer change."))
    if not site.active or not site.serves(round_.date):
        raise FieldError(
            "site_id",
            _("%(site)s has no pickup on %(date)s.", site=site.name, date=round_.date.isoformat()),
        )
    found = db.session.scalar(
        select(SiteNote).where(SiteNote.site_id == site.id, SiteNote.round_id == round_.id)
    )
    text = text.strip()
    if not text:
        if found is None:
            return False
        db.session.delete(found)
    elif found is None:
        db.session.add(
            SiteNote(site_id=site.id, round_id=round_.id, text=text, author_id=author.id)
        )
    elif found.text == text:
        return False
    else:
        found.text = text
        found.author_id = author.id
        found.updated_at = utcnow()
    db.session.flush()
    request_refresh(round_)
    return True
