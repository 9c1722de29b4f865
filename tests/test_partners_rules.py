"""The share partners' rule (csa/core/partners.py), property by property, without an app."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from csa.core.partners import Pattern, Slot, Swap, collectors, counts, turns

START = date(2027, 5, 4)


@st.composite
def calendars(draw: st.DrawFn, min_size: int = 0) -> list[Slot[int]]:
    """Rounds on distinct dates (keys are ids, unrelated to the order), some not held."""
    offsets = draw(st.lists(st.integers(0, 250), min_size=min_size, max_size=30, unique=True))
    keys = draw(st.permutations(list(range(100, 100 + len(offsets)))))
    return [
        Slot(key, START + timedelta(days=offset), draw(st.booleans() | st.just(True)))
        for key, offset in zip(keys, offsets, strict=True)
    ]


households = st.lists(st.integers(1, 9), min_size=1, max_size=4, unique=True)


def _held_in_order(rounds: list[Slot[int]]) -> list[Slot[int]]:
    return sorted((s for s in rounds if s.held), key=lambda s: s.day)


@given(calendars(), households)
def test_every_round_held_has_a_collector_and_no_other_has(rounds, homes):
    who = collectors(rounds, homes)
    assert set(who) == {s.key for s in rounds}
    for slot in rounds:
        if slot.held:
            assert who[slot.key] in homes
        else:
            assert who[slot.key] is None


@given(calendars(), households)
def test_turns_cycle_over_the_rounds_held_in_date_order(rounds, homes):
    who = collectors(rounds, homes)
    held = _held_in_order(rounds)
    assert [who[s.key] for s in held] == [homes[i % len(homes)] for i in range(len(held))]
    # Fair: nobody collects more than one round more than another.
    tally = counts(who, homes)
    assert max(tally.values()) - min(tally.values()) <= 1
    assert sum(tally.values()) == len(held)


@given(calendars(), households, st.randoms(use_true_random=False))
def test_the_order_rows_come_in_changes_nothing(rounds, homes, rnd):
    shuffled = list(rounds)
    rnd.shuffle(shuffled)
    assert collectors(shuffled, homes) == collectors(rounds, homes)


@given(calendars(min_size=1), households, st.data())
def test_cancelling_a_round_shifts_only_the_later_turns(rounds, homes, data):
    """Not odd and even weeks: the round after a cancelled one takes its turn."""
    held = _held_in_order(rounds)
    if not held:
        return
    index = data.draw(st.integers(0, len(held) - 1))
    gone = held[index]
    before = collectors(rounds, homes)
    changed = [Slot(s.key, s.day, False) if s.key == gone.key else s for s in rounds]
    after = collectors(changed, homes)
    assert after[gone.key] is None
    for slot in held[:index]:
        assert after[slot.key] == before[slot.key]
    # Each later round now has the turn of the one before it.
    later = held[index:]
    for previous, slot in zip(later, later[1:], strict=False):
        assert after[slot.key] == before[previous.key]


@given(calendars(min_size=1), households, st.data())
def test_moving_a_round_changes_nothing_before_either_date(rounds, homes, data):
    slot = data.draw(st.sampled_from(rounds))
    taken = {s.day for s in rounds}
    new_day = data.draw(
        st.integers(0, 250)
        .map(lambda d: START + timedelta(days=d))
        .filter(lambda d: d not in taken or d == slot.day)
    )
    moved = [Slot(s.key, new_day, s.held) if s.key == slot.key else s for s in rounds]
    before, after = collectors(rounds, homes), collectors(moved, homes)
    first = min(slot.day, new_day)
    for s in rounds:
        if s.day < first:
            assert after[s.key] == before[s.key]
    # A move that keeps the order of the rounds changes nobody's turn.
    if [s.key for s in sorted(rounds, key=lambda s: s.day)] == [
        s.key for s in sorted(moved, key=lambda s: s.day)
    ]:
        assert after == before


@given(calendars(), households, st.data())
def test_a_plan_names_who_collects_and_the_rest_take_turns(rounds, homes, data):
    keys = [s.key for s in rounds]
    plan = data.draw(st.dictionaries(st.sampled_from(keys), st.sampled_from(homes)) if keys
                     else st.just({}))  # fmt: skip
    planned = collectors(rounds, homes, pattern=Pattern.PLAN, plan=plan)
    alternate = collectors(rounds, homes, pattern=Pattern.ALTERNATE, plan=plan)
    assert alternate == turns(rounds, homes)  # taking turns ignores the plan
    for slot in rounds:
        if not slot.held:
            assert planned[slot.key] is None
        elif slot.key in plan:
            assert planned[slot.key] == plan[slot.key]
        else:
            assert planned[slot.key] == alternate[slot.key]


@given(calendars(), households, st.integers(10, 20))
def test_a_household_no_longer_sharing_is_never_named(rounds, homes, stranger):
    plan = {s.key: stranger for s in rounds}
    swaps = [Swap(s.key, stranger) for s in rounds]
    who = collectors(rounds, homes, pattern=Pattern.PLAN, plan=plan, swaps=swaps)
    assert who == turns(rounds, homes)


@given(calendars(min_size=2), households, st.data())
def test_an_exchange_swaps_two_rounds_and_nothing_else(rounds, homes, data):
    held = _held_in_order(rounds)
    if len(held) < 2 or len(homes) < 2:
        return
    a, b = data.draw(st.lists(st.sampled_from(held), min_size=2, max_size=2, unique=True))
    before = collectors(rounds, homes)
    swap = Swap(a.key, before[b.key], b.key, before[a.key])  # type: ignore[arg-type]
    after = collectors(rounds, homes, swaps=[swap])
    assert after[a.key] == before[b.key]
    assert after[b.key] == before[a.key]
    assert {k: v for k, v in after.items() if k not in (a.key, b.key)} == {
        k: v for k, v in before.items() if k not in (a.key, b.key)
    }
    assert counts(after, homes) == counts(before, homes)


@given(calendars(min_size=1), households, st.data())
def test_the_later_swap_wins_and_a_round_not_held_cannot_be_swapped(rounds, homes, data):
    slot = data.draw(st.sampled_from(rounds))
    first, second = data.draw(st.sampled_from(homes)), data.draw(st.sampled_from(homes))
    who = collectors(rounds, homes, swaps=[Swap(slot.key, first), Swap(slot.key, second)])
    assert who[slot.key] == (second if slot.held else None)


@given(calendars(min_size=1), households, st.data())
def test_swaps_stand_when_an_earlier_round_is_cancelled(rounds, homes, data):
    """A swap names who collects: the turns moving under it leave it as agreed."""
    slot = data.draw(st.sampled_from(rounds))
    to = data.draw(st.sampled_from(homes))
    cancelled = [Slot(s.key, s.day, False) if s.day < slot.day else s for s in rounds]
    who = collectors(cancelled, homes, swaps=[Swap(slot.key, to)])
    assert who[slot.key] == (to if slot.held else None)


def test_two_households_alternate_over_the_real_calendar():
    """The issue's example: a cancelled round and a hold take no turn."""
    days = [START + timedelta(weeks=w) for w in range(6)]
    rounds = [Slot(i, d, held=i not in (2, 4)) for i, d in enumerate(days)]
    who = collectors(rounds, [1, 2])
    assert [who[i] for i in range(6)] == [1, 2, None, 1, None, 2]


def test_no_rounds_no_collectors():
    assert collectors([], [1, 2]) == {}
    assert collectors([Slot(1, START)], []) == {1: None}


def test_string_keys_and_same_day_rounds_are_still_ordered():
    rounds = [Slot("b", START), Slot("a", START)]
    first = collectors(rounds, [1, 2])
    random.Random(4).shuffle(rounds)
    assert collectors(rounds, [1, 2]) == first == {"a": 1, "b": 2}
