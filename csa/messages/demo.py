"""The demo farm's messages: the coordinator's welcome to every active household (with a
Polish version), the farmer's word to the coming round's members, and a site note for that
round. Flushes only; csa/demo.py commits. The outbox rows wait for the scheduler's
delivery (.eml files in instance/outbox without a mail server)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.messages import operations, queries
from csa.messages.audience import Choice
from csa.models import AudienceKind, Message, Role, User
from csa.rounds.split import sites_serving


def load_demo(today: date) -> str:
    """Add the demo's two messages and a site note; return what was done."""
    if db.session.scalar(select(Message.id).limit(1)) is not None:
        return "messages were there already"
    coordinator = db.session.scalar(select(User).where(User.role == Role.COORDINATOR))
    farmer = db.session.scalar(select(User).where(User.role == Role.FARMER))
    if coordinator is None or farmer is None:
        return "no staff to write messages"
    welcome, _path = operations.send(
        coordinator,
        Choice(AudienceKind.ACTIVE),
        operations.Draft(
            subject="Welcome to the season",
            body=(
                "Dear members,\n\nthe first shares are growing. Pickup times are on your "
                "page; put a round on hold there when you are away.\n\nSee you at the field!"
            ),
            locale2="pl",
            subject2="Witamy w sezonie",
            body2=(
                "Drodzy członkowie,\n\npierwsze udziały rosną. Godziny odbioru są na Waszej "
                "stronie; tam też wstrzymacie odbiór, gdy Was nie będzie.\n\nDo zobaczenia!"
            ),
        ),
        today,
    )
    rounds = queries.coming_rounds(today, limit=1)
    sent = [welcome]
    notes: list[str] = []
    if rounds:
        round_ = rounds[0]
        try:
            late, _path = operations.send(
                farmer,
                Choice(AudienceKind.ROUND, round_id=round_.id),
                operations.Draft(
                    subject="The carrots are late",
                    body="The carrots need one more week; there are extra beans instead.",
                ),
                today,
            )
            sent.append(late)
        except ValidationFailed:  # nobody collects that round
            pass
        sites = sites_serving(round_.date)
        if sites:
            operations.set_site_note(
                sites[0], round_, "Bring your own bags; the gate code is 1234.", coordinator, today
            )
            notes.append(f"a site note for {sites[0].name} on {round_.date.isoformat()}")
    addresses = sum(len(m.recipients) for m in sent)
    return ", ".join([f"{len(sent)} messages sent to {addresses} addresses", *notes])
