"""The round page's table, built from a RoundSplit in memory: no query per cell or per row."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from babel import numbers
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from csa.changes.terms import InForce
from csa.core.allocation import Share
from csa.core.names import person_key, place_key
from csa.models import MILLI, Crop, HoldMode, PickupSite, ShareType
from csa.rounds.split import RoundSplit
from csa.ui.formatting import unit_label


@dataclass
class Row:
    """One membership's line: a cell per crop (None where it has no part of that crop)."""

    membership: InForce  # with the terms in force on the round's date
    hold: HoldMode | None
    cells: list[Share | None]


@dataclass
class SiteGroup:
    site: PickupSite
    rows: list[Row] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    @property
    def receiving(self) -> int:
        return sum(1 for r in self.rows if r.hold != HoldMode.OTHERS)


@dataclass
class TypeTotal:
    share_type: ShareType
    memberships: int = 0
    shares: int = 0
    totals: list[int] = field(default_factory=list)


@dataclass
class RoundTable:
    """Rows grouped by site, totals per site and share type, and the per-crop balance."""

    crops: list[Crop]
    groups: list[SiteGroup]
    by_type: list[TypeTotal]
    harvested: list[int]
    allocated: list[int]
    donated: list[int]
    surplus: list[int]
    on_hold: list[tuple[InForce, HoldMode]]

    @property
    def row_count(self) -> int:
        return sum(len(g.rows) for g in self.groups)


def build_table(split: RoundSplit) -> RoundTable:
    """Arrange a split for the page; the split lists every hold, nothing is patched in."""
    crops = split.crop_list
    hold_of = dict(split.holds)
    memberships = dict(split.memberships)
    ordered = sorted(
        memberships.values(),
        key=lambda m: (place_key(m.site.name, m.site_id), person_key(m.member.name, m.id)),
    )
    groups: dict[int, SiteGroup] = {}
    types: dict[int, TypeTotal] = {}
    width = len(crops)
    for m in ordered:
        cells = [split.cell(m.id, c.id) for c in crops]
        group = groups.setdefault(m.site.id, SiteGroup(m.site, totals=[0] * width))
        group.rows.append(Row(m, hold_of.get(m.id), cells))
        kind = types.setdefault(m.share_type.id, TypeTotal(m.share_type, totals=[0] * width))
        if hold_of.get(m.id) != HoldMode.OTHERS:
            kind.memberships += 1
            kind.shares += m.shares
        for i, cell in enumerate(cells):
            if cell is not None:
                group.totals[i] += cell.quantity
                kind.totals[i] += cell.quantity
    harvested = [split.harvested.get(c.id, 0) for c in crops]
    surplus = [split.surplus(c.id) for c in crops]
    on_hold = [(memberships[mid], mode) for mid, mode in hold_of.items()]
    on_hold.sort(
        key=lambda p: (
            place_key(p[0].site.name, p[0].site_id),
            person_key(p[0].member.name, p[0].id),
        )
    )
    return RoundTable(
        crops=crops,
        groups=list(groups.values()),
        by_type=sorted(types.values(), key=lambda t: (t.share_type.weight_milli, t.share_type.id)),
        harvested=harvested,
        allocated=[sum(g.totals[i] for g in groups.values()) for i in range(width)],
        donated=[split.donated(c.id) for c in crops],
        surplus=surplus,
        on_hold=on_hold,
    )


class CellText:
    """Numbers and explanations for one page, made without a Babel call per cell.

    A round page has ~1,500 cells with four quantities each; formatting each through Babel
    took most of the request. The locale's symbols and the translated sentences are looked
    up once here, and numbers of thousandths are printed with them (the same output as
    `format_quantity`, which the tests compare).
    """

    def __init__(self) -> None:
        locale = get_locale()
        self.decimal = numbers.get_decimal_symbol(locale)
        self.group = numbers.get_group_symbol(locale)
        self.minus = numbers.get_minus_sign_symbol(locale)
        self._units: dict[str, str] = {}
        # gettext without variables returns the translated pattern, formatted below.
        self._fair = _("Fair share this round: %(q)s")
        self._balance = _("Balance carried in: %(q)s")
        self._no_rounding = _("Rounding: none")
        self._result = _("Result: %(q)s")
        self._donated = _("Donated: the member is away.")
        self._rounding: dict[tuple[int, int], str] = {}

    def number(self, milli: int) -> str:
        """Thousandths as a number of the locale: 12500 -> "12.5" (en) or "12,5" (pl)."""
        sign = self.minus if milli < 0 else ""
        whole, frac = divmod(abs(milli), MILLI)
        text = f"{whole:,}".replace(",", self.group) if whole >= MILLI else str(whole)
        if frac:
            text += self.decimal + f"{frac:03d}".rstrip("0")
        return sign + text

    def quantity(self, milli: int, unit: str | None = None) -> str:
        """Like `format_quantity`: a number with the crop's unit label."""
        if not unit:
            return self.number(milli)
        label = self._units.get(unit)
        if label is None:
            label = self._units[unit] = unit_label(unit)
        return f"{self.number(milli)} {label}"

    def steps(self, steps: Fraction, crop: Crop, signed: bool = False) -> str:
        """An exact number of steps as a quantity of the crop, to the thousandth."""
        milli = round(steps * crop.step_milli)
        text = self.quantity(abs(milli) if signed else milli, crop.unit)
        if signed and milli > 0:
            return "+" + text
        if signed and milli < 0:
            return "−" + text
        return text

    def rounding(self, adjustment: int, crop: Crop) -> str:
        key = (adjustment, crop.id)
        text = self._rounding.get(key)
        if text is None:
            step = self.quantity(crop.step_milli, crop.unit)
            if adjustment > 0:
                text = ngettext(
                    "Rounding: +%(num)d step of %(q)s (a unit left over)",
                    "Rounding: +%(num)d steps of %(q)s (units left over)",
                    adjustment,
                    q=step,
                )
            elif adjustment < 0:
                text = ngettext(
                    "Rounding: −%(num)d step of %(q)s (taken back: others were owed more)",
                    "Rounding: −%(num)d steps of %(q)s (taken back: others were owed more)",
                    -adjustment,
                    q=step,
                )
            else:
                text = self._no_rounding
            self._rounding[key] = text
        return text

    def explain(self, share: Share, crop: Crop) -> list[str]:
        """How a cell was reached: entitlement, balance carried in, rounding, result."""
        lines = [
            self._fair % {"q": self.steps(share.entitlement, crop)},
            self._balance % {"q": self.steps(share.balance_in, crop, signed=True)},
            self.rounding(share.adjustment, crop),
            self._result % {"q": self.quantity(share.quantity, crop.unit)},
        ]
        if share.donated:
            lines.append(self._donated)
        return lines

    def title(self, share: Share, crop: Crop) -> str:
        """The explanation as one tooltip, a line each."""
        return "\n".join(self.explain(share, crop))
