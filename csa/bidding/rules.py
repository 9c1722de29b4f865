"""The bidding round's rules: who pays what so that the members together cover the budget.

Pure: no Flask, no database. Amounts are integer cents; λ is an exact Fraction.

Range mode: each pledging membership i gives a least and a most it can pay, minᵢ ≤ maxᵢ.
The round settles at the one λ in [0, 1] with Σ (minᵢ + λ (maxᵢ − minᵢ)) = the budget left to
the pledgers; each pays minᵢ + λ (maxᵢ − minᵢ), rounded to cents by largest remainders
(csa/core/money.py round_to_total, ties by membership id) so the payments add up to exactly
that budget.

Memberships that did not pledge pay their reference price, fixed: it is taken off the budget
first and the pledgers share what is left. (The other choice, solving over everyone with
min = max = reference, gives the same λ and the same payments; taking it off first keeps the
non-pledgers' price exactly their reference, whatever the rounding.)

If even every max falls short, everyone pays its max and the shortfall is reported (the farm
decides); if the mins alone cover it, λ = 0, everyone pays its min and the surplus is
reported.

Rounding and monotony: λ grows with the budget and each exact amount grows with λ, but
largest remainders may, in rare cases, give one membership one cent less after a budget
rise of a cent or so (the "Alabama paradox" of that method); a payment never drops by more
than that cent, and never drops at all once its exact amount has grown by a cent. The tests
prove both (tests/test_bidding_rules.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from csa.core.money import round_to_total

PERMILLE = 1000


@dataclass(frozen=True, slots=True)
class Range:
    """One membership's pledge: the least and the most it can pay (equal in single mode)."""

    minimum: int
    maximum: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """What settling a round gives: each membership's season price, and how it was reached."""

    lam: Fraction  # λ (range mode; 1 in single mode)
    prices: dict[int, int]  # membership id → cents, pledgers and non-pledgers alike
    budget: int
    target: int  # the budget left to the pledgers (budget − references of non-pledgers)
    shortfall: int  # budget − Σ prices when positive, else 0
    surplus: int  # Σ prices − budget when positive, else 0

    @property
    def total(self) -> int:
        return sum(self.prices.values())


@dataclass(frozen=True, slots=True)
class Coverage:
    """How far the pledges reach: what the members see (count and total) and the staff's
    projection (pledges plus the reference prices of those who have not pledged)."""

    budget: int
    pledges: int  # how many memberships pledged
    memberships: int  # how many pay for the season
    pledged_min: int  # Σ least (single mode: Σ amounts)
    pledged_max: int  # Σ most (single mode: Σ amounts)
    unpledged_reference: int  # Σ reference prices of the memberships without a pledge

    @property
    def reach(self) -> int:
        """The most the season can raise: every max plus the references of the rest."""
        return self.pledged_max + self.unpledged_reference

    @property
    def covered(self) -> bool:
        return self.reach >= self.budget

    @property
    def short(self) -> int:
        return max(0, self.budget - self.reach)

    @property
    def percent(self) -> int:
        """Σ pledged (the most) as a whole percentage of the budget (for the meter)."""
        if self.budget <= 0:
            return 100 if self.pledged_max else 0
        return self.pledged_max * 100 // self.budget


def _check(pledges: Mapping[int, Range], references: Mapping[int, int]) -> None:
    for key, pledge in pledges.items():
        if pledge.minimum < 0 or pledge.maximum < pledge.minimum:
            raise ValueError(f"pledge {key}: need 0 ≤ min ≤ max")
    if any(v < 0 for v in references.values()):
        raise ValueError("reference prices must be ≥ 0")


def coverage(budget: int, pledges: Mapping[int, Range], references: Mapping[int, int]) -> Coverage:
    """Sum the pledges against the budget; `references` names every paying membership.

    A pledge of a membership that no longer pays (not in `references`) does not count.
    """
    _check(pledges, references)
    counted = {k: p for k, p in pledges.items() if k in references}
    return Coverage(
        budget=budget,
        pledges=len(counted),
        memberships=len(references),
        pledged_min=sum(p.minimum for p in counted.values()),
        pledged_max=sum(p.maximum for p in counted.values()),
        unpledged_reference=sum(v for k, v in references.items() if k not in counted),
    )


def solve_lambda(target: int, pledges: Mapping[int, Range]) -> Fraction:
    """The λ in [0, 1] with Σ (min + λ (max − min)) = target, clamped to [0, 1]."""
    low = sum(p.minimum for p in pledges.values())
    high = sum(p.maximum for p in pledges.values())
    if target <= low:
        return Fraction(0)
    if target >= high:
        return Fraction(1)
    return Fraction(target - low, high - low)


def settle_range(
    budget: int, pledges: Mapping[int, Range], references: Mapping[int, int]
) -> Settlement:
    """Settle a range round: every paying membership's price (the module docstring says how).

    :param references: membership id → reference price, for every paying membership; a
        pledge of a membership not in it is ignored.
    """
    _check(pledges, references)
    counted = {k: p for k, p in pledges.items() if k in references}
    fixed = {k: v for k, v in references.items() if k not in counted}
    target = budget - sum(fixed.values())
    lam = solve_lambda(target, counted)
    exact = {k: p.minimum + lam * (p.maximum - p.minimum) for k, p in counted.items()}
    low = sum(p.minimum for p in counted.values())
    high = sum(p.maximum for p in counted.values())
    if low <= target <= high and counted:
        paid = round_to_total(exact, target, key=lambda k: k)
    else:  # λ is 0 or 1: the exact amounts are whole cents already
        paid = {k: int(v) for k, v in exact.items()}
    prices = {**fixed, **paid}
    total = sum(prices.values())
    return Settlement(
        lam=lam,
        prices=dict(sorted(prices.items())),
        budget=budget,
        target=target,
        shortfall=max(0, budget - total),
        surplus=max(0, total - budget),
    )


def settle_single(
    budget: int, pledges: Mapping[int, int], references: Mapping[int, int]
) -> Settlement:
    """Settle a single-pledge round: each pays its pledge, the rest their reference price.

    Short or over, the amounts stand as pledged; the shortfall or surplus is reported.
    """
    if any(v < 0 for v in pledges.values()) or any(v < 0 for v in references.values()):
        raise ValueError("amounts must be ≥ 0")
    prices = {k: pledges.get(k, v) for k, v in sorted(references.items())}
    total = sum(prices.values())
    fixed = sum(v for k, v in references.items() if k not in pledges)
    return Settlement(
        lam=Fraction(1),
        prices=prices,
        budget=budget,
        target=budget - fixed,
        shortfall=max(0, budget - total),
        surplus=max(0, total - budget),
    )


def percent_text(fraction: Fraction) -> str:
    """A fraction as a percentage with one decimal, rounded half up: 3/8 -> "37.5"."""
    tenths = int((fraction * 1000 + Fraction(1, 2)) // 1)
    return f"{tenths // 10}.{tenths % 10}"


def needs_reason(amount: int, reference: int, floor_permille: int) -> bool:
    """True when a pledge (single amount, or a range's least) is below the floor."""
    return amount * PERMILLE < floor_permille * reference


def carry_over(previous: Mapping[int, Range]) -> dict[int, int]:
    """The defaults of the next single-pledge round: each one's last pledge (its most)."""
    return {k: p.maximum for k, p in sorted(previous.items())}


def latecomer_price(reference: int, rounds_left: int, rounds_in_season: int) -> int:
    """A latecomer's reference price for the rounds it still gets, rounded half up to cents.

    No rounds in the season (a rhythm that never serves it): the whole reference.
    """
    if rounds_in_season <= 0:
        return reference
    left = min(max(rounds_left, 0), rounds_in_season)
    return (2 * reference * left + rounds_in_season) // (2 * rounds_in_season)
