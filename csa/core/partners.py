"""Who of the share partners collects each round: the pure rule.

Two or more households share one membership. They take turns over the rounds the
membership actually has, in date order: a cancelled round, or one the membership is on
hold for, is nobody's turn and consumes none, so the turns never drift the way odd and
even ISO weeks do when the calendar changes (a round moved, cancelled or added shifts only
the turns after it). Instead of taking turns the households may follow a plan (a
household named for a round; rounds the plan leaves out still take turns), and two
households may swap: an accepted swap names who collects one or two rounds, on top of
the turns and the plan, in the order the swaps were accepted.

No Flask, no database: csa/partners/queries.py feeds it plain values.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)  # what names a round (the database uses its id)


class Pattern(StrEnum):
    ALTERNATE = "alternate"  # take turns over the rounds held
    PLAN = "plan"  # the households' own plan, turns where it names nobody


@dataclass(frozen=True, slots=True)
class Slot(Generic[K]):
    """One round of the shared membership: `held` is False when it is cancelled or the
    membership is on hold for it (nobody collects; no turn is used)."""

    key: K
    day: date
    held: bool = True


@dataclass(frozen=True, slots=True)
class Swap(Generic[K]):
    """An accepted swap: `first` goes to `first_to`; with a second round, that one goes to
    `second_to` (an exchange). Without one, a round handed over (or taken)."""

    first: K
    first_to: int
    second: K | None = None
    second_to: int | None = None

    def assignments(self) -> list[tuple[K, int]]:
        pairs = [(self.first, self.first_to)]
        if self.second is not None and self.second_to is not None:
            pairs.append((self.second, self.second_to))
        return pairs


def turns(rounds: Iterable[Slot[K]], households: Sequence[int]) -> dict[K, int | None]:
    """Take turns in the households' order over the held rounds, by (date, key)."""
    ordered = sorted(rounds, key=lambda s: (s.day, _order_key(s.key)))
    out: dict[K, int | None] = {}
    turn = 0
    for slot in ordered:
        if not slot.held or not households:
            out[slot.key] = None
            continue
        out[slot.key] = households[turn % len(households)]
        turn += 1
    return out


def collectors(
    rounds: Iterable[Slot[K]],
    households: Sequence[int],
    *,
    pattern: Pattern = Pattern.ALTERNATE,
    plan: Mapping[K, int] | None = None,
    swaps: Sequence[Swap[K]] = (),
) -> dict[K, int | None]:
    """Who collects each round (a household id), or None where nobody does.

    :param households: the sharing households in turn order (the membership's own first).
    :param plan: a household per round, used with Pattern.PLAN only.
    :param swaps: accepted swaps in the order they were accepted; the later wins.

    A plan entry or a swap that names a household no longer sharing, or a round not held,
    changes nothing: the turns stand.
    """
    slots = list(rounds)
    who = turns(slots, households)
    sharing = set(households)
    if pattern == Pattern.PLAN and plan:
        for key, household in plan.items():
            if who.get(key) is not None and household in sharing:
                who[key] = household
    for swap in swaps:
        for key, household in swap.assignments():
            if who.get(key) is not None and household in sharing:
                who[key] = household
    return who


def _order_key(key: Hashable) -> tuple[str, str]:
    # Two rounds on one date are impossible in the database (Round.date is unique), but the
    # rule stays total: order them by their key's type and text, never by input order.
    return (type(key).__name__, repr(key))


def counts(who: Mapping[K, int | None], households: Sequence[int]) -> dict[int, int]:
    """How many rounds each household collects (for the page's "3 of 7")."""
    out = dict.fromkeys(households, 0)
    for household in who.values():
        if household is not None and household in out:
            out[household] += 1
    return out
