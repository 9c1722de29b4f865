"""Reads for the messages pages: the sent list with its counts, one message's recipients, a
household's inbox, and the site notes of the coming rounds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from csa.changes.terms import InForce, sites_at
from csa.extensions import db
from csa.models import (
    AudienceKind,
    Member,
    Membership,
    Message,
    MessageRecipient,
    OutboxMessage,
    OutboxState,
    RecipientState,
    Round,
    RoundStatus,
    SiteNote,
)
from csa.share.notes import RoundNote
from csa.sheets.annotations import Annotations

SENT_LIST_MAX = 200


@dataclass(frozen=True)
class SentLine:
    message: Message
    households: int
    states: Mapping[str, int]  # sent, queued, sending, failed, unsubscribed, no_address


def state_of(recipient_state: str, outbox_state: str | None) -> str:
    """What the sent list calls a recipient's state: its mail's, else why it has none."""
    if recipient_state == RecipientState.MAILED and outbox_state is not None:
        return str(outbox_state)
    return str(recipient_state)


def sent_list(rounds_only: bool) -> list[SentLine]:
    """The newest messages with the state of their recipients (farmers: round messages)."""
    query = select(Message).options(joinedload(Message.sender)).order_by(Message.id.desc())
    if rounds_only:
        query = query.where(Message.audience_kind == AudienceKind.ROUND)
    messages = list(db.session.scalars(query.limit(SENT_LIST_MAX)))
    ids = [m.id for m in messages]
    states: dict[int, Counter[str]] = {i: Counter() for i in ids}
    households: dict[int, int] = dict.fromkeys(ids, 0)
    if ids:
        rows = db.session.execute(
            select(
                MessageRecipient.message_id,
                MessageRecipient.state,
                OutboxMessage.state,
                func.count(),
            )
            .outerjoin(OutboxMessage, OutboxMessage.id == MessageRecipient.outbox_message_id)
            .where(MessageRecipient.message_id.in_(ids))
            .group_by(MessageRecipient.message_id, MessageRecipient.state, OutboxMessage.state)
        )
        for message_id, own, outbox, n in rows:
            states[message_id][state_of(own, outbox)] += int(n)
        for message_id, n in db.session.execute(
            select(
                MessageRecipient.message_id, func.count(func.distinct(MessageRecipient.member_id))
            )
            .where(MessageRecipient.message_id.in_(ids))
            .group_by(MessageRecipient.message_id)
        ):
            households[message_id] = int(n)
    return [SentLine(m, households[m.id], dict(states[m.id])) for m in messages]


@dataclass(frozen=True)
class RecipientLine:
    member: Member
    email: str
    state: str
    error: str


def recipients(message: Message) -> list[RecipientLine]:
    rows = db.session.execute(
        select(MessageRecipient, OutboxMessage)
        .outerjoin(OutboxMessage, OutboxMessage.id == MessageRecipient.outbox_message_id)
        .options(joinedload(MessageRecipient.member))
        .where(MessageRecipient.message_id == message.id)
        .order_by(MessageRecipient.id)
    ).all()
    return [
        RecipientLine(
            r.member,
            r.email,
            state_of(r.state, o.state if o is not None else None),
            o.last_error if o is not None and o.state != OutboxState.SENT else "",
        )
        for r, o in rows
    ]


STATE_LABELS = {
    "sent": lambda: _("sent"),
    "queued": lambda: _("waiting to be sent"),
    "sending": lambda: _("being sent"),
    "failed": lambda: _("failed"),
    "unsubscribed": lambda: _("unsubscribed"),
    "no_address": lambda: _("no address"),
}


def state_label(state: str) -> str:
    label = STATE_LABELS.get(state)
    return label() if label else state


# --- the household's inbox ------------------------------------------------------------------


def inbox(member_id: int) -> list[Message]:
    """Messages to this household that are not hidden, newest first."""
    mine = select(MessageRecipient.message_id).where(MessageRecipient.member_id == member_id)
    return list(
        db.session.scalars(
            select(Message)
            .options(joinedload(Message.sender))
            .where(Message.id.in_(mine), Message.hidden.is_(False))
            .order_by(Message.id.desc())
            .limit(SENT_LIST_MAX)
        )
    )


def message_for(member_id: int, message_id: int) -> Message | None:
    """One message if it went to this household and is not hidden (else the page is a 404,
    whether it exists or not)."""
    found = db.session.scalar(
        select(Message).where(
            Message.id == message_id,
            Message.hidden.is_(False),
            Message.id.in_(
                select(MessageRecipient.message_id).where(MessageRecipient.member_id == member_id)
            ),
        )
    )
    return found


# --- site notes -----------------------------------------------------------------------------


def coming_rounds(today: date, limit: int = 8) -> list[Round]:
    """The rounds a note or a farmer's message may be about: today's and the coming ones."""
    return list(
        db.session.scalars(
            select(Round)
            .where(Round.date >= today, Round.status != RoundStatus.CANCELLED)
            .order_by(Round.date)
            .limit(limit)
        )
    )


def notes_of(round_ids: Collection[int]) -> list[SiteNote]:
    if not round_ids:
        return []
    return list(
        db.session.scalars(
            select(SiteNote)
            .options(joinedload(SiteNote.site), joinedload(SiteNote.round))
            .where(SiteNote.round_id.in_(list(round_ids)))
            .order_by(SiteNote.round_id, SiteNote.site_id)
        )
    )


def annotate(
    round_: Round, site_ids: Collection[int], memberships: Mapping[int, InForce]
) -> Annotations:
    """The pickup list's lines: each site's note for the round, at the top of its list."""
    found = Annotations()
    if not site_ids:
        return found
    for note in db.session.scalars(
        select(SiteNote).where(SiteNote.round_id == round_.id, SiteNote.site_id.in_(list(site_ids)))
    ):
        found.site_notes.setdefault(note.site_id, []).append(note.text)
    return found


def round_notes(membership: Membership, rounds: Sequence[Round]) -> dict[int, list[RoundNote]]:
    """My share's note on each round: the note of the site the household collects at then."""
    out: dict[int, list[RoundNote]] = {}
    if not rounds:
        return out
    notes = {
        (n.round_id, n.site_id): n.text
        for n in db.session.scalars(
            select(SiteNote).where(SiteNote.round_id.in_([r.id for r in rounds]))
        )
    }
    if not notes:
        return out
    for round_ in rounds:
        site_id = sites_at(round_.date, [membership.id]).get(membership.id, membership.site_id)
        text = notes.get((round_.id, site_id))
        if text:
            out[round_.id] = [RoundNote(_("Note from the farm: %(text)s", text=text))]
    return out
