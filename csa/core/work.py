"""The rules of member work (csa/work): hours required pro rata to the months a membership is
held, the hours ledger, buying hours out, when a job's reminder and its call for help fall due.

Hours are integer minutes everywhere, so a ledger never drifts by a float; people type and
read hours ("2,5"), converted at the edges by `parse_hours` and `format_hours`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction

MAX_MINUTES = 1000 * 60  # no job, transfer or requirement is worth more than 1000 hours


class HoursError(ValueError):
    """Hours that cannot be read, or that are out of range."""


def parse_hours(text: str, *, allow_zero: bool = False) -> int:
    """Read hours typed as "2", "2,5" or "1.25" into whole minutes (rounded half up)."""
    cleaned = (text or "").strip().replace(",", ".").replace(" ", "")
    if not cleaned:
        raise HoursError("empty")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise HoursError("not a number") from None
    if not value.is_finite() or value < 0:
        raise HoursError("negative")
    if value > MAX_MINUTES // 60:
        raise HoursError("too large")
    minutes = int((value * 60 + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))
    if minutes == 0 and not allow_zero:
        raise HoursError("zero")
    return minutes


def format_hours(minutes: int) -> str:
    """Minutes as hours with at most two decimals and a point: 150 → "2.5", 60 → "1"."""
    sign = "-" if minutes < 0 else ""
    hundredths = int(Fraction(abs(minutes) * 100, 60) + Fraction(1, 2))
    whole, part = divmod(hundredths, 100)
    text = f"{whole}.{part:02d}".rstrip("0").rstrip(".")
    return sign + text


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def months_held(start: date, end: date) -> int:
    """The calendar months a contract touches (a month begun counts whole); 0 if end < start."""
    if end < start:
        return 0
    return month_index(end) - month_index(start) + 1


def required_minutes(
    per_season: int, shares: int, held: tuple[date, date], season: tuple[date, date]
) -> int:
    """What a membership owes: its share type's minutes per season × shares, pro rata to the
    months it is held of the season's months, rounded half up to the minute.

    The held dates are clipped to the season, so a contract never owes more than a whole
    season's hours.
    """
    if per_season <= 0 or shares <= 0:
        return 0
    start, end = max(held[0], season[0]), min(held[1], season[1])
    total = months_held(*season)
    if total == 0:
        return 0
    owed = Fraction(per_season * shares * months_held(start, end), total)
    return int(owed + Fraction(1, 2))  # half up: floor(x + 1/2)


@dataclass(frozen=True)
class Ledger:
    """One membership's hours in one season, in minutes."""

    required: int = 0
    done: int = 0  # confirmed attendance
    pending: int = 0  # signed up, not yet confirmed (not counted until confirmed)
    given_in: int = 0  # transferred to it by other households
    given_out: int = 0  # transferred by it to others
    bought: int = 0  # bought out with money

    @property
    def credited(self) -> int:
        """What counts against the requirement."""
        return self.done + self.given_in - self.given_out + self.bought

    @property
    def owed(self) -> int:
        """What is still to be worked (or bought out); never below zero."""
        return max(0, self.required - self.credited)

    @property
    def surplus(self) -> int:
        """Worked hours beyond the requirement: what it may give to another household.

        Bought-out hours are money, not work: they lower what is owed but are never given on.
        """
        return max(0, self.done + self.given_in - self.given_out - self.required)


class LedgerError(ValueError):
    """A transfer or buy-out the ledger does not allow; the message names the limit."""


def check_transfer(ledger: Ledger, minutes: int) -> None:
    """A household gives only worked hours beyond its own requirement."""
    if minutes <= 0:
        raise LedgerError("nothing to give")
    if minutes > ledger.surplus:
        raise LedgerError("more than the surplus")


def check_buyout(ledger: Ledger, minutes: int) -> None:
    """A household buys out at most what it still owes."""
    if minutes <= 0:
        raise LedgerError("nothing to buy")
    if minutes > ledger.owed:
        raise LedgerError("more than owed")


def buyout_cents(minutes: int, rate_cents_per_hour: int) -> int:
    """The price of bought-out minutes at an hourly rate, rounded half up to the cent."""
    return int(Fraction(minutes * rate_cents_per_hour, 60) + Fraction(1, 2))


def reminder_due(starts_at: datetime, now: datetime, hours: int = 48) -> bool:
    """A signed-up household is reminded once, within `hours` before the job starts."""
    return starts_at - timedelta(hours=hours) <= now < starts_at


def call_due(starts_at: datetime, now: datetime, days: int) -> bool:
    """An understaffed job calls for help once, `days` before it starts (and not after)."""
    return starts_at - timedelta(days=days) <= now < starts_at


def free_slots(slots: int, taken: int) -> int:
    return max(0, slots - taken)
