"""Harvest entries: record, correct and remove them while their round is open, all audited.

The harvest form, the entries page and `flask csa record-harvest` all come through here, so
the rules (and the refusal of a locked round) live in one place. A submission is checked
whole before anything is written. Everything only flushes; the caller commits.

The form carries a one-time token (HarvestSubmission, unique): sent again, it finds what
the first sending saved and writes nothing (`AlreadySaved`). Two resends at the same moment
meet at the unique constraint; the caller turns the loser's IntegrityError into the same
answer through `find_submission`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from csa.core.quantity import QuantityError, parse_milli
from csa.errors import CsaError, ValidationFailed
from csa.extensions import db
from csa.models import (
    MILLI,
    Crop,
    HarvestAudit,
    HarvestEntry,
    HarvestSubmission,
    HoldMode,
    OptOut,
    Round,
    RoundStatus,
    ShareType,
    User,
)
from csa.rounds.split import compute_split
from csa.ui.formatting import format_quantity

# A crop named by id (the web form) or by name, case-insensitive (the command line).
CropRef = int | str
Line = tuple[CropRef, str]


class HarvestInvalid(ValidationFailed):
    """A harvest submission with mistakes; none of it was written.

    Problems are kept by place (the round, the lines as a whole, each line by its index) so
    the form can show each one next to what caused it.
    """

    def __init__(
        self,
        round_error: str | None = None,
        lines_error: str | None = None,
        line_errors: dict[int, list[str]] | None = None,
    ) -> None:
        self.round_error = round_error
        self.lines_error = lines_error
        self.line_errors = line_errors or {}
        problems = [p for p in (round_error, lines_error) if p]
        for index, messages in sorted(self.line_errors.items()):
            problems += [_("Line %(num)d: %(problem)s", num=index + 1, problem=m) for m in messages]
        super().__init__(
            _("Nothing was recorded: %(problems)s", problems=" ".join(problems)), problems
        )


class AlreadySaved(CsaError):
    """The form was sent before and saved then; nothing more is written."""

    status = 200

    def __init__(self, submission: HarvestSubmission) -> None:
        super().__init__(_("This form was saved already; nothing was recorded twice."))
        self.submission = submission


@dataclass(frozen=True)
class HarvestLine:
    """One checked line of a submission: its place in the form, the crop, the quantity."""

    index: int
    crop: Crop
    milli: int


@dataclass
class TypeRange:
    """What one share of a share type gets of a crop: the lowest and highest over members."""

    share_type: ShareType
    low: int
    high: int
    memberships: int


@dataclass
class CropPreview:
    crop: Crop
    recorded: int
    typed: int
    surplus: int
    donated: int
    types: list[TypeRange]

    @property
    def total(self) -> int:
        return self.recorded + self.typed


@dataclass
class HarvestPreview:
    """The split a submission would give, next to the lines left out for their mistakes."""

    round: Round
    crops: list[CropPreview]
    claimants: int
    line_errors: dict[int, list[str]] = field(default_factory=dict)


def round_problem(round_: Round | None) -> str | None:
    """Why a round cannot take harvest entries now, or None if it can."""
    if round_ is None:
        return _("That round does not exist. Pick one of the open rounds.")
    when = format_date(round_.date, "full")
    if round_.status == RoundStatus.CANCELLED:
        return _("The round of %(date)s is cancelled.", date=when)
    if round_.status == RoundStatus.DISTRIBUTED:
        return _("The round of %(date)s is distributed already.", date=when)
    if not round_.accepts_harvest:
        return _(
            "The round of %(date)s is locked: its shares are fixed and its harvest can no "
            "longer change.",
            date=when,
        )
    return None


def parse_quantity(text: str, crop: Crop) -> int:
    """Read a typed quantity of a crop in thousandths; QuantityError says what is wrong."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise QuantityError(_("Enter the quantity of %(crop)s.", crop=crop.name))
    if cleaned.startswith("-"):
        raise QuantityError(_("The quantity must be more than zero."))
    try:
        milli = parse_milli(cleaned)
    except QuantityError:
        raise QuantityError(
            _(
                "“%(text)s” is not a quantity: type a number such as 12,5 or 12.5 "
                "(at most three decimals).",
                text=cleaned[:20],
            )
        ) from None
    if milli <= 0:
        raise QuantityError(_("The quantity must be more than zero."))
    limit = int(current_app.config["MAX_HARVEST_QUANTITY"]) * MILLI
    if milli > limit:
        raise QuantityError(
            _(
                "At most %(limit)s of %(crop)s in one line; check the number.",
                limit=format_quantity(limit, crop.unit),
                crop=crop.name,
            )
        )
    return milli


def active_crops() -> list[Crop]:
    return list(db.session.scalars(select(Crop).where(Crop.active).order_by(Crop.name)))


def find_crop(ref: CropRef, crops: Sequence[Crop] | None = None) -> Crop | None:
    """Find a crop by id, or by name ignoring case (a name of digits is tried as an id too)."""
    crops = list(db.session.scalars(select(Crop))) if crops is None else crops
    if isinstance(ref, int):
        return next((c for c in crops if c.id == ref), None)
    wanted = ref.strip().casefold()
    found = next((c for c in crops if c.name.strip().casefold() == wanted), None)
    if found is None and wanted.isascii() and wanted.isdigit():
        found = next((c for c in crops if c.id == int(wanted)), None)
    return found


def check_lines(lines: Sequence[Line]) -> tuple[list[HarvestLine], dict[int, list[str]]]:
    """Check every line; blank lines (no crop, no quantity) are skipped, not refused."""
    crops = list(db.session.scalars(select(Crop)))
    checked: list[HarvestLine] = []
    errors: dict[int, list[str]] = defaultdict(list)
    for index, (ref, text) in enumerate(lines):
        blank_ref = isinstance(ref, str) and not ref.strip()
        if blank_ref and not (text or "").strip():
            continue
        if blank_ref:
            errors[index].append(_("Pick the crop for this quantity."))
            continue
        crop = find_crop(ref, crops)
        if crop is None:
            errors[index].append(
                _("There is no crop “%(name)s”.", name=str(ref)[:50])
                if isinstance(ref, str)
                else _("That crop does not exist.")
            )
            continue
        if not crop.active:
            errors[index].append(
                _("%(crop)s is not grown any more (the crop is inactive).", crop=crop.name)
            )
            continue
        try:
            checked.append(HarvestLine(index, crop, parse_quantity(text, crop)))
        except QuantityError as exc:
            errors[index].append(str(exc))
    return checked, dict(errors)


def _lock(round_: Round) -> None:
    # Re-read the round under a row lock (PostgreSQL; SQLite serialises writers anyway), so
    # a lock_round running now either sees this harvest or makes this check refuse it.
    db.session.refresh(round_, with_for_update=True)


def _audit(
    entry: HarvestEntry, action: str, before: int | None, after: int | None, user: User | None
) -> None:
    db.session.add(
        HarvestAudit(
            round_id=entry.round_id,
            entry_id=entry.id,
            crop_id=entry.crop_id,
            user_id=user.id if user else None,
            action=action,
            before_milli=before,
            after_milli=after,
        )
    )


def find_submission(token: str) -> HarvestSubmission | None:
    """The earlier sending of a form with this token, if it was saved."""
    return db.session.scalar(select(HarvestSubmission).where(HarvestSubmission.token == token))


def record_harvest(
    round_: Round | None, lines: Sequence[Line], user: User | None, token: str | None = None
) -> list[HarvestEntry]:
    """Record one entry per line, or raise HarvestInvalid and write nothing at all.

    With a token (the web form's), a token saved before raises AlreadySaved instead.
    """
    if token is not None:
        earlier = find_submission(token)
        if earlier is not None:
            raise AlreadySaved(earlier)
    if round_ is not None:
        _lock(round_)
    round_error = round_problem(round_)
    checked, line_errors = check_lines(lines)
    lines_error = None
    if not checked and not line_errors:
        lines_error = _("Enter at least one crop and its quantity.")
    if round_error or lines_error or line_errors or round_ is None:
        raise HarvestInvalid(round_error, lines_error, line_errors)
    submission = None
    if token is not None:
        # Written and flushed first: a concurrent resend stops here, at the unique token.
        submission = HarvestSubmission(
            token=token, round_id=round_.id, user_id=user.id if user else None
        )
        db.session.add(submission)
        db.session.flush()
    entries = [
        HarvestEntry(
            round=round_,
            crop=line.crop,
            quantity_milli=line.milli,
            recorded_by_id=user.id if user else None,
            submission=submission,
        )
        for line in checked
    ]
    db.session.add_all(entries)
    db.session.flush()
    for entry in entries:
        _audit(entry, "create", None, entry.quantity_milli, user)
    db.session.flush()
    return entries


def _check_open(entry: HarvestEntry) -> None:
    _lock(entry.round)
    problem = round_problem(entry.round)
    if problem:
        raise ValidationFailed(problem, [problem])


def update_entry(entry: HarvestEntry, quantity_text: str, user: User | None) -> HarvestEntry:
    """Correct an entry's quantity while its round is open; an unchanged value is no change."""
    _check_open(entry)
    try:
        milli = parse_quantity(quantity_text, entry.crop)
    except QuantityError as exc:
        raise ValidationFailed(str(exc), [str(exc)]) from None
    if milli != entry.quantity_milli:
        _audit(entry, "update", entry.quantity_milli, milli, user)
        entry.quantity_milli = milli
        db.session.flush()
    return entry


def delete_entry(entry: HarvestEntry, user: User | None) -> None:
    """Remove an entry while its round is open; the audit row keeps what it was."""
    _check_open(entry)
    _audit(entry, "delete", entry.quantity_milli, None, user)
    db.session.delete(entry)
    db.session.flush()


def round_entries(round_: Round) -> list[HarvestEntry]:
    return list(
        db.session.scalars(
            select(HarvestEntry)
            .where(HarvestEntry.round_id == round_.id)
            .order_by(HarvestEntry.recorded_at, HarvestEntry.id)
        )
    )


def round_audit(round_: Round) -> list[HarvestAudit]:
    return list(
        db.session.scalars(
            select(HarvestAudit)
            .where(HarvestAudit.round_id == round_.id)
            .order_by(HarvestAudit.at.desc(), HarvestAudit.id.desc())
        )
    )


def preview_harvest(round_: Round, lines: Sequence[Line]) -> HarvestPreview:
    """The split the round would get with these lines added to what is recorded; read-only.

    For each crop and share type it gives what one share receives, lowest and highest over
    the memberships of that type, since the rounding (and the season balance) differs by
    member. A membership of several shares counts per share. Lines with mistakes are left
    out and reported.
    """
    checked, line_errors = check_lines(lines)
    typed: dict[int, int] = defaultdict(int)
    for line in checked:
        typed[line.crop.id] += line.milli
    split = compute_split(round_, extra=dict(typed))
    opted_out = {
        (mid, cid)
        for mid, cid in db.session.execute(
            select(OptOut.membership_id, OptOut.crop_id).where(
                OptOut.membership_id.in_(list(split.memberships))
            )
        )
    }
    types = {m.share_type_id: m.share_type for m in split.memberships.values()}
    crops = []
    for crop in split.crop_list:
        crop_split = split.splits.get(crop.id)
        per_type: dict[int, list[int]] = defaultdict(list)
        for share in crop_split.shares if crop_split else []:
            membership = split.memberships.get(share.membership_id)
            if membership is None or (share.membership_id, crop.id) in opted_out:
                continue
            per_share = round(Fraction(share.quantity, membership.shares))
            per_type[membership.share_type_id].append(per_share)
        ranges = [
            TypeRange(types[tid], min(values), max(values), len(values))
            for tid, values in per_type.items()
        ]
        ranges.sort(key=lambda r: (r.share_type.weight_milli, r.share_type.name))
        total = split.harvested.get(crop.id, 0)
        crops.append(
            CropPreview(
                crop=crop,
                recorded=total - typed.get(crop.id, 0),
                typed=typed.get(crop.id, 0),
                surplus=split.surplus(crop.id),
                donated=split.donated(crop.id),
                types=ranges,
            )
        )
    claimants = sum(1 for mid in split.memberships if split.holds.get(mid) != HoldMode.OTHERS)
    return HarvestPreview(round_, crops, claimants, line_errors)
