"""Import and export the member register as CSV, the way coordinators keep it in a spreadsheet.

Columns: name,email,phone,share_type,shares,site,season,start,end (any order, extra columns
ignored). Import checks every row before it writes anything, so a bad file changes nothing;
importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from csa.core.bounds import day_in_range
from csa.core.csvfile import csv_text, unguard
from csa.core.text import clean_line, refused
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Member, Membership, MembershipStatus, PickupSite, Season, ShareType
from csa.register import waiting
from csa.register.operations import normalise_email, places_taken, valid_email

T = TypeVar("T")

COLUMNS = ("name", "email", "phone", "share_type", "shares", "site", "season", "start", "end")
REQUIRED_COLUMNS = ("name", "email", "share_type", "shares", "site", "season")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SHARES = re.compile(r"^[0-9]{1,4}$")


def _length(column: Any) -> int:
    """The length of a String column, as the database will hold it."""
    return int(column.property.columns[0].type.length)


# The longest text each column holds (the register's own columns; names of seasons, share
# types and sites are looked up, never stored from the file).
TEXT_LIMITS = {c: _length(getattr(Member, c)) for c in ("name", "email", "phone")}
MAX_SHARES = 999


@dataclass
class ImportRow:
    """One checked line of the file, with the rows it names already looked up."""

    line: int
    name: str
    email: str
    phone: str
    share_type: ShareType
    shares: int
    site: PickupSite
    season: Season
    start: date
    end: date


@dataclass
class ImportSummary:
    """What an import did, for the flash message and the command's output."""

    members_created: int = 0
    members_updated: int = 0
    memberships_created: int = 0
    memberships_updated: int = 0
    waiting: int = 0  # new memberships put on a full site's waiting list
    rows: int = 0

    def message(self) -> str:
        """Say what the import did, for the flash message and the command's output."""
        return _(
            "Rows read: %(rows)d. Members created: %(mc)d, updated: %(mu)d. "
            "Memberships created: %(sc)d, updated: %(su)d.",
            rows=self.rows,
            mc=self.members_created,
            mu=self.members_updated,
            sc=self.memberships_created,
            su=self.memberships_updated,
        ) + (
            " "
            + ngettext(
                "%(num)d went on a full site's waiting list.",
                "%(num)d went on full sites' waiting lists.",
                self.waiting,
            )
            if self.waiting
            else ""
        )


@dataclass
class _Lookups:
    """Seasons, share types and sites by name, read once per import."""

    seasons: dict[str, Season] = field(default_factory=dict)
    share_types: dict[str, ShareType] = field(default_factory=dict)
    sites: dict[str, PickupSite] = field(default_factory=dict)


def _key(name: str) -> str:
    """Compare names ignoring case and repeated blanks."""
    return " ".join(name.split()).casefold()


def _lookups() -> _Lookups:
    """Load every season, share type and site once, keyed by name."""
    found = _Lookups()
    # Ordered by id so that, should two names differ only in case, the older one wins.
    for season in db.session.scalars(select(Season).order_by(Season.id.desc())):
        found.seasons[_key(season.name)] = season
    for share_type in db.session.scalars(select(ShareType).order_by(ShareType.id.desc())):
        found.share_types[_key(share_type.name)] = share_type
    for site in db.session.scalars(select(PickupSite).order_by(PickupSite.id.desc())):
        found.sites[_key(site.name)] = site
    return found


def _decode(data: bytes) -> str:
    """Read the file as UTF-8, with or without Excel's byte order mark."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = _('The file is not UTF-8 text. Save it as "CSV UTF-8" and try again.')
        raise ValidationFailed(message, [message]) from exc


def _delimiter(text: str) -> str:
    """Semicolon when the header line has more semicolons than commas (European Excel)."""
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _parse_date(value: str) -> date | None:
    """Read an ISO date (YYYY-MM-DD only) in the range the app keeps, or None."""
    if not ISO_DATE.match(value):
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return day if day_in_range(day) else None


def _text_problems(raw: dict[str, str], values: dict[str, str]) -> list[str]:
    """Cells holding a control character, or longer than the column they go into."""
    problems = []
    for column, value in raw.items():
        if refused(value):
            problems.append(_("%(column)s holds a control character (such as NUL)", column=column))
    for column, limit in TEXT_LIMITS.items():
        if len(values.get(column, "")) > limit:
            problems.append(
                ngettext(
                    "%(column)s is longer than %(num)d character",
                    "%(column)s is longer than %(num)d characters",
                    limit,
                    column=column,
                )
            )
    return problems


def read_rows(data: bytes) -> list[ImportRow]:
    """Check every line of the file; raise ValidationFailed listing each bad line if any is."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        message = _("The file is empty.")
        raise ValidationFailed(message, [message]) from None
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        message = _(
            "The first line must name the columns; missing: %(missing)s. Expected: %(expected)s.",
            missing=", ".join(missing),
            expected=",".join(COLUMNS),
        )
        raise ValidationFailed(message, [message])
    index = {c: columns.index(c) for c in COLUMNS if c in columns}
    found = _lookups()
    problems: list[str] = []
    bad_lines: set[int] = set()
    rows: list[ImportRow] = []
    first_seen: dict[tuple[str, int], int] = {}
    next_line = reader.line_num + 1
    limit = int(current_app.config["MAX_IMPORT_ROWS"])
    for number, cells in enumerate(_records(reader), start=1):
        if number > limit:
            message = ngettext(
                "The file has more than %(num)d row; nothing was imported. Split it.",
                "The file has more than %(num)d rows; nothing was imported. Split it.",
                limit,
            )
            raise ValidationFailed(message, [message])
        # A quoted cell may span lines: a record starts on the line after the previous one.
        line, next_line = next_line, reader.line_num + 1
        raw = {c: cells[i] if i < len(cells) else "" for c, i in index.items()}
        # Cleaned as the forms clean a single-line field (csa/core/text.py).
        values = {c: clean_line(unguard(v.strip())) for c, v in raw.items()}
        if not any(values.values()) and not any(refused(v) for v in raw.values()):
            continue  # spreadsheets leave empty rows behind (";;;;")
        row, reasons = _check_row(line, values, found)
        reasons[:0] = _text_problems(raw, values)
        if reasons:
            row = None
        if row is not None:
            earlier = first_seen.setdefault((row.email, row.season.id), line)
            if earlier != line:
                reasons.append(
                    _(
                        "%(email)s appears for season %(season)s already on line %(line)d",
                        email=row.email,
                        season=row.season.name,
                        line=earlier,
                    )
                )
        if reasons:
            bad_lines.add(line)
            problems.extend(_("Line %(line)d: %(reason)s.", line=line, reason=r) for r in reasons)
        elif row is not None:
            rows.append(row)
    if problems:
        message = ngettext(
            "%(num)d line has a problem; nothing was imported.",
            "%(num)d lines have problems; nothing was imported.",
            len(bad_lines),
        )
        raise ValidationFailed(message, problems)
    return rows


def _check_row(
    line: int, values: dict[str, str], found: _Lookups
) -> tuple[ImportRow | None, list[str]]:
    """Read one record; return the row, or None with the reasons it is wrong."""
    reasons: list[str] = []
    for column in REQUIRED_COLUMNS:
        if not values.get(column):
            reasons.append(_("%(column)s is empty", column=column))
    name = " ".join(values["name"].split())
    email = normalise_email(values["email"])
    if email and not valid_email(email):
        reasons.append(_("%(email)s is not an e-mail address", email=email))
    share_type = found.share_types.get(_key(values["share_type"]))
    if values["share_type"] and share_type is None:
        reasons.append(_("no share type is called %(name)s", name=values["share_type"]))
    site = found.sites.get(_key(values["site"]))
    if values["site"] and site is None:
        reasons.append(_("no pickup site is called %(name)s", name=values["site"]))
    season = found.seasons.get(_key(values["season"]))
    if values["season"] and season is None:
        reasons.append(_("no season is called %(name)s", name=values["season"]))
    shares = int(values["shares"]) if SHARES.match(values["shares"]) else 0
    if values["shares"] and not 1 <= shares <= MAX_SHARES:
        reasons.append(
            _(
                "shares must be a whole number from 1 to %(max)d, not %(value)s",
                max=MAX_SHARES,
                value=values["shares"],
            )
        )
    dates: dict[str, date | None] = {}
    for column in ("start", "end"):
        text = values.get(column, "")
        dates[column] = _parse_date(text) if text else None
        if text and dates[column] is None:
            reasons.append(
                _(
                    "%(column)s must be a date like 2027-05-31, not %(value)s",
                    column=column,
                    value=text,
                )
            )
    if season is None:
        return None, reasons
    start = dates["start"] or season.start
    end = dates["end"] or season.end
    if start > end:
        reasons.append(
            _("start %(start)s is after end %(end)s", start=start.isoformat(), end=end.isoformat())
        )
    elif start < season.start or end > season.end:
        reasons.append(
            _(
                "the dates must lie within the season %(season)s (%(start)s to %(end)s)",
                season=season.name,
                start=season.start.isoformat(),
                end=season.end.isoformat(),
            )
        )
    if reasons or share_type is None or site is None:
        return None, reasons
    row = ImportRow(
        line, name, email, values.get("phone", ""), share_type, shares, site, season, start, end
    )
    return row, reasons


def _records(reader: Iterable[list[str]]) -> Iterable[list[str]]:
    """Yield the CSV records, turning a malformed file into a ValidationFailed."""
    try:
        yield from reader
    except csv.Error as exc:
        message = _("The file is not valid CSV: %(error)s", error=str(exc))
        raise ValidationFailed(message, [message]) from exc


def import_members(data: bytes) -> ImportSummary:
    """Create or update members and memberships from a CSV file; all or nothing.

    The e-mail identifies the member (its name and phone are updated), and the member with
    the season identify the membership (share type, shares, site and dates are updated).
    An empty phone cell keeps the phone on record.
    """
    rows = read_rows(data)
    summary = ImportSummary(rows=len(rows))
    members = _members_by_email({row.email for row in rows})
    memberships = _memberships_of([m.id for m in members.values()])
    locale = current_app.config["BABEL_DEFAULT_LOCALE"]
    created: set[str] = set()
    updated: set[str] = set()
    taken: dict[tuple[int, int], int] = {}
    ranks: dict[tuple[int, int], int] = {}
    for row in rows:
        member = members.get(row.email)
        if member is None:
            member = Member(name=row.name, email=row.email, phone=row.phone, locale=locale)
            db.session.add(member)
            members[row.email] = member
            created.add(row.email)
        else:
            changed = False
            if member.name != row.name:
                member.name, changed = row.name, True
            if row.phone and member.phone != row.phone:
                member.phone, changed = row.phone, True
            if changed and row.email not in created:
                updated.add(row.email)
        terms = {
            "share_type": row.share_type,
            "shares": row.shares,
            "site": row.site,
            "start": row.start,
            "end": row.end,
        }
        membership = memberships.get((member.id, row.season.id)) if member.id else None
        if membership is None:
            # A full site puts the newcomer on its waiting list instead of over capacity.
            key = (row.site.id, row.season.id)
            if key not in taken:
                taken[key] = places_taken(row.site, row.season)
            status = MembershipStatus.ACTIVE
            rank = None
            if taken[key] >= row.site.capacity:
                status = MembershipStatus.WAITING
                summary.waiting += 1
                # Ranks in file order, after everyone already waiting (csa/register/waiting.py).
                if key not in ranks:
                    ranks[key] = waiting.next_rank(row.site.id, row.season.id)
                rank = ranks[key]
                ranks[key] += 1
            else:
                taken[key] += 1
            db.session.add(
                Membership(
                    member=member, season=row.season, status=status, waiting_rank=rank, **terms
                )
            )
            summary.memberships_created += 1
        else:
            changed = False
            for attr, value in terms.items():
                if getattr(membership, attr) != value:
                    setattr(membership, attr, value)
                    changed = True
            summary.memberships_updated += int(changed)
    db.session.flush()
    summary.members_created = len(created)
    summary.members_updated = len(updated)
    return summary


def _chunks(items: list[T], size: int = 500) -> Iterable[list[T]]:
    """Split a list so an IN (...) stays below SQLite's limit on bound parameters."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _members_by_email(emails: set[str]) -> dict[str, Member]:
    """Load the members these e-mails name, keyed by the lower-case e-mail, in a few queries."""
    found: dict[str, Member] = {}
    for chunk in _chunks(sorted(emails)):
        stmt = select(Member).where(func.lower(Member.email).in_(chunk))
        for member in db.session.scalars(stmt):
            found[normalise_email(member.email)] = member
    return found


def _memberships_of(member_ids: list[int]) -> dict[tuple[int, int], Membership]:
    """Load these members' memberships, keyed by (member, season)."""
    found: dict[tuple[int, int], Membership] = {}
    for chunk in _chunks(sorted(member_ids)):
        stmt = select(Membership).where(Membership.member_id.in_(chunk))
        for membership in db.session.scalars(stmt):
            found[(membership.member_id, membership.season_id)] = membership
    return found


def export_members(memberships: Iterable[Membership]) -> str:
    """Write memberships as CSV in the columns the import reads (csa/core/csvfile.py guards)."""
    return csv_text(
        COLUMNS,
        (
            [
                m.member.name,
                m.member.email,
                m.member.phone,
                m.share_type.name,
                m.shares,
                m.site.name,
                m.season.name,
                m.start.isoformat(),
                m.end.isoformat(),
            ]
            for m in memberships
        ),
    )
