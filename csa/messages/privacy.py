"""Messages in a household's data download, and in its anonymising.

The download lists every message the farm sent the household (csa/privacy/export.py's
registry). Anonymising (csa/privacy/operations.py's scrubbers) removes the household's
addresses from its recipient rows, its name from every message's stored audience and text,
and the sealed unsubscribe headers of its unsent mails (the outbox's own scrubber already
takes their bodies).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from csa.extensions import db
from csa.models import (
    MESSAGE_SUBJECT_MAX,
    Member,
    Message,
    MessageOptOut,
    MessageRecipient,
    OutboxMessage,
)
from csa.privacy.export import Row, household_data, plain
from csa.privacy.operations import SCRUBBERS, Personal, anonymous_name


@household_data(_l("The farm's messages to the household: when, whom to, subject and text."))
def _messages(member: Member) -> tuple[str, list[Row]]:
    mine = select(MessageRecipient.message_id).where(MessageRecipient.member_id == member.id)
    rows = [
        {
            "sent_at": plain(m.created_at),
            "audience": m.audience,
            "subject": m.subject,
            "body": m.body,
            "subject2": m.subject2,
            "body2": m.body2,
            "attachment": m.attachment_name,
        }
        for m in db.session.scalars(
            select(Message).where(Message.id.in_(mine)).order_by(Message.id)
        )
    ]
    return "messages", rows


@household_data(_l("Whether the household asked for no more of the farm's messages, and when."))
def _message_opt_out(member: Member) -> tuple[str, list[Row]]:
    found = db.session.get(MessageOptOut, member.id)
    return "message_opt_out", [] if found is None else [{"since": plain(found.created_at)}]


def scrub_messages(member: Member, old: Personal) -> None:
    """Take the household's addresses and name out of the messages' rows."""
    recipients = list(
        db.session.scalars(select(MessageRecipient).where(MessageRecipient.member_id == member.id))
    )
    outbox_ids = [r.outbox_message_id for r in recipients if r.outbox_message_id]
    for recipient in recipients:
        recipient.email = ""
        recipient.token_hash = None  # its unsubscribe link stops working
    for start in range(0, len(outbox_ids), 500):
        for row in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids[start : start + 500]))
        ):
            row.sealed_headers = None
    name = old.name.strip()
    if name:
        new = anonymous_name(member)
        columns = (Message.audience, Message.subject, Message.body, Message.subject2, Message.body2)
        found = db.session.scalars(
            select(Message).where(or_(*(c.contains(name, autoescape=True) for c in columns)))
        )
        for message in found:
            message.audience = message.audience.replace(name, new)[:500]
            message.subject = message.subject.replace(name, new)[:MESSAGE_SUBJECT_MAX]
            message.body = message.body.replace(name, new)
            message.subject2 = message.subject2.replace(name, new)[:MESSAGE_SUBJECT_MAX]
            message.body2 = message.body2.replace(name, new)
    db.session.flush()


def register() -> None:
    """Join the anonymising (once per process: the scrubbers are a module list)."""
    if scrub_messages not in SCRUBBERS:
        SCRUBBERS.insert(0, scrub_messages)
