"""The farm setup: seasons, share types, pickup sites and crops, each with its own rules.

Everything here only flushes; the view or command that calls it commits once. Nothing a
membership or a harvest refers to is ever deleted: these rows are deactivated instead, so
old rounds and sheets keep their meaning.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any, TypeVar

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, or_, select

from csa.core.quantity import UNITS
from csa.errors import FieldError
from csa.extensions import db
from csa.models import Crop, Membership, PickupSite, Season, ShareType
from csa.notices.notify import notify_site_window
from csa.rounds import lifecycle

Setting = Season | ShareType | PickupSite | Crop
Named = TypeVar("Named", Season, ShareType, PickupSite, Crop)


def _check_name(model: type[Named], name: str, obj: Named | None) -> str:
    """Return the name trimmed, refusing one another row has in any case."""
    name = name.strip()
    if not name:
        raise FieldError("name", _("Enter a name."))
    # Compared in Python: SQLite's lower() leaves "Ł" and "Ż" as they are.
    wanted = name.casefold()
    same = [row for row in db.session.scalars(select(model)) if row.name.casefold() == wanted]
    if any(other is not obj for other in same):
        raise FieldError("name", _("The name %(name)s is taken.", name=name))
    return name


def set_active(obj: Setting, active: bool) -> None:
    """Deactivate or reactivate a setting; it stays referenced by whatever used it."""
    obj.active = active
    db.session.flush()


def save_season(
    season: Season | None, *, name: str, start: date, end: date, signup_open: bool = False
) -> Season:
    """Create or change a season; its memberships must still fit its dates."""
    name = _check_name(Season, name, season)
    if start > end:
        raise FieldError("end", _("The end date is before the start date."))
    if season is None:
        season = Season(name=name, start=start, end=end)
        db.session.add(season)
    else:
        outside = db.session.scalar(
            select(func.count(Membership.id)).where(
                Membership.season_id == season.id,
                or_(Membership.start < start, Membership.end > end),
            )
        )
        if outside:
            raise FieldError(
                "start",
                ngettext(
                    "%(num)d membership runs outside these dates; change it first.",
                    "%(num)d memberships run outside these dates; change them first.",
                    outside,
                ),
            )
        season.name, season.start, season.end = name, start, end
    season.signup_open = signup_open
    db.session.flush()
    return season


def save_share_type(
    share_type: ShareType | None, *, name: str, weight_milli: int, price_cents: int
) -> ShareType:
    """Create or change a share size; the weight is thousandths of a full share."""
    name = _check_name(ShareType, name, share_type)
    if weight_milli <= 0:
        raise FieldError("weight", _("The weight must be more than zero."))
    if price_cents < 0:
        raise FieldError("price", _("The price cannot be negative."))
    if share_type is None:
        share_type = ShareType(name=name, weight_milli=weight_milli, price_cents=price_cents)
        db.session.add(share_type)
    else:
        share_type.name = name
        share_type.weight_milli = weight_milli
        share_type.price_cents = price_cents
    db.session.flush()
    return share_type


def save_site(
    site: PickupSite | None,
    *,
    name: str,
    address: str,
    weekday: int,
    opens: time,
    closes: time,
    capacity: int,
    every_weeks: int,
    week_offset: int,
) -> PickupSite:
    """Create or change a pickup site and when it hands out shares."""
    name = _check_name(PickupSite, name, site)
    if not 0 <= weekday <= 6:
        raise FieldError("weekday", _("Choose a weekday."))
    if closes <= opens:
        raise FieldError("closes", _("The site must close after it opens."))
    if capacity < 0:
        raise FieldError("capacity", _("The capacity cannot be negative."))
    if every_weeks not in (1, 2):
        raise FieldError("every_weeks", _("A site opens every week or every second week."))
    if not 0 <= week_offset < every_weeks:
        raise FieldError("week_offset", _("The week offset must be below the number of weeks."))
    values: dict[str, Any] = {
        "name": name,
        "address": address.strip(),
        "weekday": weekday,
        "opens": opens,
        "closes": closes,
        "capacity": capacity,
        "every_weeks": every_weeks,
        "week_offset": week_offset,
    }
    if site is None:
        site = PickupSite(**values)
        db.session.add(site)
        db.session.flush()
        return site
    old_window = site.opens, site.closes
    for attr, value in values.items():
        setattr(site, attr, value)
    db.session.flush()
    # A new time window is news for the households with coming rounds there, saved in the
    # same transaction as the change (csa/notices/notify.py).
    notify_site_window(site, *old_window, lifecycle.farm_today())
    return site


def save_crop(crop: Crop | None, *, name: str, unit: str, step_milli: int) -> Crop:
    """Create or change a crop; the step is the smallest amount handed out, in thousandths."""
    name = _check_name(Crop, name, crop)
    if unit not in UNITS:
        raise FieldError("unit", _("Choose a unit."))
    if step_milli <= 0:
        raise FieldError("step", _("The step must be more than zero."))
    if crop is None:
        crop = Crop(name=name, unit=unit, step_milli=step_milli)
        db.session.add(crop)
    else:
        crop.name, crop.unit, crop.step_milli = name, unit, step_milli
    db.session.flush()
    return crop
