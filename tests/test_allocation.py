"""The split (csa.core.allocation): exact, conserving, season-fair, deterministic, explainable.

Plain imports only, no app. Seasons are simulated here with an independent exact ledger
(entitled and received per member and crop, in Fractions) rather than trusting balance_out.
"""

from __future__ import annotations

import gc
import math
import random
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csa.core.allocation import (
    Claimant,
    CropHarvest,
    CropSplit,
    Share,
    _hash64,
    _mix,
    describe,
    split_crop,
    split_round,
)

KG = 50  # step 0.05 kg, in milli
PIECE = 1000
WEIGHTS = (500, 1000, 1500)  # half, full, family (thousandths)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# Helpers


def public(share: Share) -> tuple:
    """Everything a caller can see of a share (the stored denominators may legitimately differ)."""
    return (
        share.membership_id,
        share.crop_id,
        share.units,
        share.quantity,
        share.entitlement,
        share.balance_in,
        share.base,
        share.adjustment,
        share.donated,
        share.balance_out,
    )


def public_round(result: dict[int, CropSplit]) -> dict[int, tuple]:
    return {
        cid: (cs.units, cs.surplus, [public(s) for s in cs.shares]) for cid, cs in result.items()
    }


def tie_key(round_key: str, crop_id: int, membership_id: int) -> tuple[int, int]:
    """The documented tie-break: stable hash of (round, crop, membership), then the id."""
    salt = _hash64(f"{round_key}\x1f{crop_id}")
    return (_mix(salt ^ _hash64(f"m{membership_id}")), membership_id)


def oracle(
    round_key: str,
    crop: CropHarvest,
    claimants: list[Claimant],
    balances: dict[int, Fraction],
) -> dict[int, int]:
    """The rule of the module docstring written the slow, obvious way with Fractions."""
    if not claimants:
        return {}
    units = crop.quantity // crop.step
    total = sum(c.weight for c in claimants)
    weight = {c.membership_id: c.weight for c in claimants}
    value = {
        c.membership_id: Fraction(units * c.weight, total) + balances.get(c.membership_id, 0)
        for c in claimants
    }
    got = {m: max(0, math.floor(v)) for m, v in value.items()}
    left = units - sum(got.values())

    def tie(m: int) -> tuple[int, int]:
        return tie_key(round_key, crop.crop_id, m)

    if left > 0:
        positive = [m for m in got if value[m] - got[m] > 0]
        positive.sort(key=lambda m: ((1 - (value[m] - got[m])) / weight[m], tie(m)))
        for m in positive[:left]:
            got[m] += 1
        left -= len(positive[:left])
        while left > 0:  # largest remaining value, one unit at a time
            m = min(got, key=lambda m: (-(value[m] - got[m]), tie(m)))
            got[m] += 1
            left -= 1
    while left < 0:  # smallest remainder among those that still have a unit
        m = min((m for m in got if got[m] > 0), key=lambda m: (value[m] - got[m], tie(m)))
        got[m] -= 1
        left += 1
    return got


class Season:
    """An exact, independent ledger of a season, fed round by round through split_round."""

    def __init__(self) -> None:
        self.entitled: Counter[tuple[int, int]] = Counter()
        self.received: Counter[tuple[int, int]] = Counter()
        self.balances: dict[tuple[int, int], Fraction] = {}
        self.rounds = 0

    def play(
        self,
        crops: list[CropHarvest],
        claimants: list[Claimant],
        opt_outs: frozenset[tuple[int, int]] = frozenset(),
    ) -> dict[int, CropSplit]:
        self.rounds += 1
        result = split_round(f"r{self.rounds}", crops, claimants, self.balances, opt_outs)
        for crop in crops:
            split = result[crop.crop_id]
            takers = [c for c in claimants if (c.membership_id, crop.crop_id) not in opt_outs]
            total = sum(c.weight for c in takers)
            assert sum(s.quantity for s in split.shares) + split.surplus == crop.quantity
            for c in takers:
                key = (c.membership_id, crop.crop_id)
                self.entitled[key] += Fraction(split.units * c.weight, total)
            for s in split.shares:
                key = (s.membership_id, s.crop_id)
                self.received[key] += s.units
                assert s.balance_out == self.entitled[key] - self.received[key]
                self.balances[key] = s.balance_out
        return result

    def balance(self, key: tuple[int, int]) -> Fraction:
        return Fraction(self.entitled[key] - self.received[key])

    def worst(self) -> Fraction:
        return max((abs(self.balance(k)) for k in self.entitled), default=Fraction(0))


def equal(n: int, weight: int = 1000) -> list[Claimant]:
    return [Claimant(m, weight) for m in range(1, n + 1)]


# ---------------------------------------------------------------------------------------------
# Table-driven cases


@pytest.mark.parametrize(
    ("crop", "claimants", "units", "surplus", "received"),
    [
        pytest.param(
            CropHarvest(1, 10_000, KG), equal(3), 200, 0, [66, 67, 67], id="10kg-step-0.05-3-equal"
        ),
        pytest.param(
            CropHarvest(1, 10_030, KG), equal(3), 200, 30, [66, 67, 67], id="surplus-0.03kg"
        ),
        pytest.param(
            CropHarvest(1, 7_000, PIECE), equal(80), 7, 0, [0] * 73 + [1] * 7, id="7-pumpkins-80"
        ),
        pytest.param(CropHarvest(1, 5_500, PIECE), [], 0, 5_500, [], id="zero-claimants"),
        pytest.param(CropHarvest(1, 30, KG), equal(4), 0, 30, [0, 0, 0, 0], id="below-one-step"),
        pytest.param(CropHarvest(1, 0, KG), equal(2), 0, 0, [0, 0], id="nothing-harvested"),
        pytest.param(
            CropHarvest(1, 6_000, PIECE),
            [Claimant(1, 500), Claimant(2, 1000), Claimant(3, 1500)],
            6,
            0,
            [1, 2, 3],
            id="half-full-family-exact",
        ),
        pytest.param(
            CropHarvest(1, 1_000, PIECE),
            [Claimant(1, 500), Claimant(2, 1500)],
            1,
            0,
            [0, 1],
            id="one-unit-goes-to-family",
        ),
        pytest.param(
            CropHarvest(1, 3_000, PIECE),
            [Claimant(1, 1000), Claimant(2, 2000)],
            3,
            0,
            [1, 2],
            id="two-shares-count-twice",
        ),
    ],
)
def test_table(
    crop: CropHarvest, claimants: list[Claimant], units: int, surplus: int, received: list[int]
) -> None:
    split = split_crop("2027-06-01", crop, claimants)
    assert split.crop_id == crop.crop_id
    assert split.units == units
    assert split.surplus == surplus
    assert [s.membership_id for s in split.shares] == sorted(c.membership_id for c in claimants)
    if len({c.weight for c in claimants}) == 1:
        assert sorted(s.units for s in split.shares) == received
    else:
        assert [s.units for s in split.shares] == received
    assert sum(s.quantity for s in split.shares) + split.surplus == crop.quantity


def test_ten_kg_for_three_explained() -> None:
    split = split_crop("2027-06-01", CropHarvest(4, 10_000, KG), equal(3))
    for share in split.shares:
        text = describe(share)
        assert text["entitlement"] == "200/3"
        assert text["entitlement_decimal"] == "66.667"
        assert text["balance_in"] == "0"
        assert text["base"] == "66"
        assert text["units"] == str(share.units)
        assert text["quantity"] == str(share.units * KG)
        assert text["adjustment"] in {"+1", "0"}
        assert text["balance_out"] in {"2/3", "-1/3"}
        assert text["balance_out_decimal"] in {"0.667", "-0.333"}
    assert sorted(describe(s)["adjustment"] for s in split.shares) == ["+1", "+1", "0"]


def test_describe_taken_back() -> None:
    # Two members come back owed 9/10 of a pumpkin each; one pumpkin: floors say 2.
    split = split_crop(
        "2027-06-08",
        CropHarvest(9, 1_000, PIECE),
        equal(2),
        {1: Fraction(9, 10), 2: Fraction(9, 10)},
    )
    texts = sorted((describe(s) for s in split.shares), key=lambda t: t["adjustment"])
    assert [t["adjustment"] for t in texts] == ["-1", "0"]
    taken, kept = texts
    assert kept["units"] == "1"
    assert kept["balance_out"] == "2/5"
    assert taken["rounding"].startswith("taken back")
    assert taken["total"] == "7/5"
    assert taken["balance_in_decimal"] == "0.900"
    assert taken["balance_out"] == "7/5"


# ---------------------------------------------------------------------------------------------
# Hypothesis strategies

member_ids = st.integers(min_value=1, max_value=10_000)


@st.composite
def claimant_lists(draw: st.DrawFn, max_size: int = 25, weights=WEIGHTS) -> list[Claimant]:
    ids = draw(st.lists(member_ids, min_size=0, max_size=max_size, unique=True))
    return [
        Claimant(
            m,
            draw(st.sampled_from(weights)) * draw(st.sampled_from((1, 1, 2))),
            draw(st.booleans()),
        )
        for m in ids
    ]


crop_harvests = st.builds(
    CropHarvest,
    crop_id=st.integers(min_value=1, max_value=50),
    quantity=st.integers(min_value=0, max_value=60_000),
    step=st.sampled_from((KG, 100, 250, PIECE)),
)

open_balance = st.fractions(min_value=-1, max_value=1, max_denominator=60).filter(
    lambda f: abs(f) < 1
)


# ---------------------------------------------------------------------------------------------
# 1, 2, 5, 6: conservation, no negatives, opt-outs, determinism, explainable, matches the oracle


@FAST
@given(
    claimants=claimant_lists(),
    crops=st.lists(crop_harvests, min_size=1, max_size=4, unique_by=lambda c: c.crop_id),
    data=st.data(),
)
def test_round_properties(
    claimants: list[Claimant], crops: list[CropHarvest], data: st.DataObject
) -> None:
    pairs = [(c.membership_id, crop.crop_id) for c in claimants for crop in crops]
    balances = {
        pair: data.draw(st.fractions(min_value=-3, max_value=3, max_denominator=40))
        for pair in pairs
        if data.draw(st.booleans())
    }
    opt_outs = frozenset(p for p in pairs if data.draw(st.integers(0, 9)) == 0)
    result = split_round("2027-07-06", crops, claimants, balances, opt_outs)
    assert set(result) == {crop.crop_id for crop in crops}
    weight = {c.membership_id: c.weight for c in claimants}
    donated = {c.membership_id: c.donated for c in claimants}
    for crop in crops:
        split = result[crop.crop_id]
        takers = [c for c in claimants if (c.membership_id, crop.crop_id) not in opt_outs]
        # 1. conservation, exactly
        assert sum(s.quantity for s in split.shares) + split.surplus == crop.quantity
        assert split.surplus >= 0
        if takers:
            assert split.units == crop.quantity // crop.step
            assert split.surplus == crop.quantity % crop.step
        else:
            assert (split.units, split.surplus, split.shares) == (0, crop.quantity, [])
        # 2. no negatives; opted-out members have no share
        assert all(s.units >= 0 and s.quantity >= 0 for s in split.shares)
        assert [s.membership_id for s in split.shares] == sorted(c.membership_id for c in takers)
        # 6. explainable: the numbers reproduce each other
        total = sum(c.weight for c in takers)
        for s in split.shares:
            assert s.crop_id == crop.crop_id
            assert s.donated is donated[s.membership_id]
            assert s.entitlement == Fraction(split.units * weight[s.membership_id], total)
            assert s.balance_in == balances.get((s.membership_id, crop.crop_id), 0)
            value = s.entitlement + s.balance_in
            assert s.base == max(0, math.floor(value))
            assert s.base + s.adjustment == s.units
            assert s.quantity == s.units * crop.step
            assert s.balance_out == s.balance_in + s.entitlement - s.units
            assert set(describe(s)) >= {"entitlement", "balance_in", "base", "adjustment"}
        # the integer fast path is the rule, ties and all
        expected = oracle(
            "2027-07-06",
            crop,
            takers,
            {m: b for (m, cid), b in balances.items() if cid == crop.crop_id},
        )
        assert {s.membership_id: s.units for s in split.shares} == expected
    # 5. determinism: any order of claimants, crops and opt-outs gives the same split
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    shuffled = claimants[:]
    rng.shuffle(shuffled)
    again = split_round(
        "2027-07-06", crops[::-1], shuffled, dict(reversed(balances.items())), sorted(opt_outs)
    )
    assert public_round(again) == public_round(result)


@FAST
@given(claimants=claimant_lists(max_size=12), crop=crop_harvests, data=st.data())
def test_split_crop_matches_split_round(
    claimants: list[Claimant], crop: CropHarvest, data: st.DataObject
) -> None:
    balances = {c.membership_id: data.draw(open_balance) for c in claimants}
    one = split_crop("k", crop, claimants, balances)
    many = split_round("k", [crop], claimants, {(m, crop.crop_id): b for m, b in balances.items()})
    assert [public(s) for s in one.shares] == [public(s) for s in many[crop.crop_id].shares]
    assert one.shares == many[crop.crop_id].shares  # equality goes by the public values
    assert len(set(one.shares) | set(many[crop.crop_id].shares)) == len(one.shares)


# ---------------------------------------------------------------------------------------------
# 4. Proportion in a first round


@FAST
@given(
    claimants=claimant_lists(max_size=40, weights=(1, 2, 3, 5, 500, 1000, 1500, 2000)),
    crop=crop_harvests,
)
def test_first_round_larger_weight_never_gets_less(
    claimants: list[Claimant], crop: CropHarvest
) -> None:
    split = split_crop("2027-05-04", crop, claimants)
    weight = {c.membership_id: c.weight for c in claimants}
    shares = sorted(split.shares, key=lambda s: weight[s.membership_id])
    for smaller, larger in zip(shares, shares[1:], strict=False):
        if weight[larger.membership_id] > weight[smaller.membership_id]:
            assert larger.units >= smaller.units
        else:
            assert abs(larger.units - smaller.units) <= 1
        assert larger.adjustment >= 0  # nothing is ever taken back in a first round


# ---------------------------------------------------------------------------------------------
# 3. Fairness over a whole season with unchanged membership: -1 < balance < 1, always


def test_season_300_members_stays_within_one_step() -> None:
    rng = random.Random(2027)
    claimants = [
        Claimant(m, rng.choice(WEIGHTS) * rng.choice((1, 1, 1, 2)), rng.random() < 0.05)
        for m in rng.sample(range(1, 100_000), 300)
    ]
    full_shares = sum(c.weight for c in claimants) / 1000
    opt_outs = frozenset(  # season-long opt-outs: the claimant set per crop never changes
        (c.membership_id, 6) for c in claimants if rng.random() < 0.2
    )
    season = Season()
    for _ in range(30):
        crops = [
            CropHarvest(1, int(full_shares * rng.uniform(0.1, 2.0) * 1000), KG),  # potatoes
            CropHarvest(2, int(full_shares * rng.uniform(0.0, 0.4) * 1000), KG),  # beans
            CropHarvest(3, rng.randrange(0, int(full_shares * 2)) * PIECE, PIECE),  # lettuce
            CropHarvest(4, rng.randrange(0, int(full_shares * 3)) * PIECE + 400, PIECE),
            CropHarvest(5, round(7 * 300 / 80) * PIECE, PIECE),  # pumpkins: 7 for every 80
            CropHarvest(6, rng.randrange(0, 40) * PIECE, PIECE),  # scarce, some opted out
        ]
        result = season.play(crops, claimants, opt_outs)
        assert all(s.adjustment >= 0 for cs in result.values() for s in cs.shares)  # no take-back
        assert season.worst() < 1  # after EVERY round, every member, every crop
    assert season.rounds == 30
    assert sum(season.received[c.membership_id, 5] for c in claimants) == 30 * 26


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=9),
    harvests=st.lists(st.integers(min_value=0, max_value=25), min_size=1, max_size=30),
    step=st.sampled_from((KG, PIECE)),
)
def test_season_property_stays_within_one_step(
    weights: list[int], harvests: list[int], step: int
) -> None:
    """Any weights (not just half/full/family), any harvests: |balance| < 1 after every round."""
    claimants = [Claimant(m, w) for m, w in enumerate(weights, start=1)]
    season = Season()
    for units in harvests:
        result = season.play([CropHarvest(1, units * step, step)], claimants)
        assert all(s.adjustment in (0, 1) for s in result[1].shares)
        assert season.worst() < 1


def plain_largest_remainder_overflows(weights: dict[int, int], harvests: list[int]) -> int | None:
    """The round (1-based) in which weight-blind largest remainder finds floors > units."""
    balance = dict.fromkeys(weights, Fraction(0))
    total = sum(weights.values())
    for r, units in enumerate(harvests, start=1):
        value = {m: Fraction(units * w, total) + balance[m] for m, w in weights.items()}
        got = {m: max(0, math.floor(v)) for m, v in value.items()}
        left = units - sum(got.values())
        if left < 0:
            return r
        order = sorted(weights, key=lambda m: (got[m] - value[m], tie_key(f"r{r}", 1, m)))
        for m in order[:left]:
            got[m] += 1
        balance = {m: value[m] - got[m] for m in weights}
    return None


def test_plain_largest_remainder_would_drift_here() -> None:
    """Why the remainder is ranked relative to weight: a steady season that breaks plain LR.

    Seven members, half and family shares, never changing. Ranking left-over units by the
    bare remainder (same hash ties) reaches a round whose floors exceed the units, so
    someone ends owed a whole step or more; ranking by (1 - remainder) / weight cannot.
    """
    weights = {1: 1500, 2: 1500, 3: 1500, 4: 500, 5: 500, 6: 1500, 7: 500}
    harvests = [3, 10, 8, 2, 14, 14, 7, 0, 9, 4, 4, 10, 8, 1, 1, 13, 8, 8, 6, 14, 6, 7, 3]
    assert plain_largest_remainder_overflows(weights, harvests) == 23
    claimants = [Claimant(m, w) for m, w in weights.items()]
    season = Season()
    for units in harvests:
        result = season.play([CropHarvest(1, units * PIECE, PIECE)], claimants)
        assert all(s.adjustment >= 0 for s in result[1].shares)
        assert season.worst() < 1


# ---------------------------------------------------------------------------------------------
# 5. Ties are broken by a hash, and the scarce crop rotates


def test_pumpkins_go_to_hashed_members_not_lowest_ids() -> None:
    receivers = {
        key: sorted(
            s.membership_id
            for s in split_crop(key, CropHarvest(1, 7_000, PIECE), equal(80)).shares
            if s.units
        )
        for key in ("2027-06-01", "2027-06-08", "2027-06-15")
    }
    for got in receivers.values():
        assert len(got) == 7
        assert got != list(range(1, 8))
        assert got != list(range(74, 81))
    assert len({tuple(g) for g in receivers.values()}) == 3  # the round key matters
    # and the receivers are exactly the 7 smallest tie keys
    expected = sorted(range(1, 81), key=lambda m: tie_key("2027-06-01", 1, m))[:7]
    assert receivers["2027-06-01"] == sorted(expected)


def test_pumpkins_rotate_through_80_members() -> None:
    claimants = equal(80)
    season = Season()
    for r in range(1, 13):
        season.play([CropHarvest(1, 7_000, PIECE)], claimants)
        counts = [season.received[m, 1] for m in range(1, 81)]
        due = Fraction(7 * r, 80)
        assert all(math.floor(due) <= c <= math.ceil(due) for c in counts)
        assert season.worst() < 1
    # 12 rounds hand out 84 pumpkins: everyone got at least one, four got a second
    assert min(counts) == 1
    assert Counter(counts) == {1: 76, 2: 4}


@FAST
@given(claimants=claimant_lists(max_size=30), crop=crop_harvests, seed=st.integers(0, 2**32))
def test_order_of_claimants_never_matters(
    claimants: list[Claimant], crop: CropHarvest, seed: int
) -> None:
    shuffled = claimants[:]
    random.Random(seed).shuffle(shuffled)
    first = split_crop("2027-08-03", crop, claimants)
    second = split_crop("2027-08-03", crop, shuffled)
    assert [public(s) for s in first.shares] == [public(s) for s in second.shares]


# ---------------------------------------------------------------------------------------------
# 7. Holds and joins


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    claimants=claimant_lists(max_size=20, weights=(1, 2, 3, 7, 500, 1000, 1500)),
    units=st.integers(min_value=0, max_value=60),
    data=st.data(),
)
def test_one_round_after_a_change_stays_within_two_steps(
    claimants: list[Claimant], units: int, data: st.DataObject
) -> None:
    """Whoever comes or goes: balances carried in within (-1, 1) leave within (-2, 2)."""
    balances = {c.membership_id: data.draw(open_balance) for c in claimants}
    split = split_crop("2027-09-07", CropHarvest(1, units * PIECE, PIECE), claimants, balances)
    for s in split.shares:
        assert -2 < s.balance_out < 2
        assert s.adjustment >= -1  # taken back at most once


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    claimants=claimant_lists(max_size=20, weights=(1, 2, 3, 7, 500, 1000, 1500)),
    units=st.integers(min_value=0, max_value=60),
    data=st.data(),
)
def test_one_round_widens_the_range_by_less_than_a_step(
    claimants: list[Claimant], units: int, data: st.DataObject
) -> None:
    """Any carried-in balances in [lo, hi]: out in (min(lo, 0) - 1, max(hi, 1) + 1)."""
    wide = st.fractions(min_value=-4, max_value=4, max_denominator=30)
    balances = {c.membership_id: data.draw(wide) for c in claimants}
    split = split_crop("2027-09-14", CropHarvest(1, units * PIECE, PIECE), claimants, balances)
    if not claimants:
        return
    lo, hi = min(balances.values()), max(balances.values())
    for s in split.shares:
        assert min(lo, 0) - 1 < s.balance_out < max(hi, 1) + 1


def test_returning_members_are_taken_back_from_the_smallest_remainder() -> None:
    # Members 1-3 were away and are owed; member 4 stayed and got ahead. Two pumpkins.
    balances = {1: Fraction(9, 10), 2: Fraction(4, 5), 3: Fraction(7, 10), 4: Fraction(-1, 2)}
    split = split_crop("2027-09-21", CropHarvest(1, 2_000, PIECE), equal(4), balances)
    by_id = {s.membership_id: s for s in split.shares}
    # values: 1.4, 1.3, 1.2, 0 -> floors 1+1+1 = 3 > 2: the smallest remainder (member 3) waits
    assert [by_id[m].base for m in (1, 2, 3, 4)] == [1, 1, 1, 0]
    assert [by_id[m].units for m in (1, 2, 3, 4)] == [1, 1, 0, 0]
    assert by_id[3].adjustment == -1
    assert by_id[3].balance_out == Fraction(6, 5)
    assert sum(s.units for s in split.shares) == 2


def test_season_with_holds_and_joins() -> None:
    """Random holds (1-4 rounds, not steered by balances), late joins and leavers.

    Proven and checked every round: from carried-in [lo, hi] the round stays inside
    (min(lo, 0) - 1, max(hi, 1) + 1), and from (-1, 1) inside (-2, 2). Observed, not a
    theorem: with holds that are not steered by balances nobody even reaches one step and
    nothing is taken back (take-back is exercised by the tests around this one).
    """
    rng = random.Random(7)
    members = {
        m: Claimant(m, rng.choice(WEIGHTS) * rng.choice((1, 1, 2)), rng.random() < 0.05)
        for m in range(1, 151)
    }
    joins = {m: rng.randrange(0, 15) if m > 120 else 0 for m in members}  # 30 join late
    leaves = {m: rng.randrange(15, 30) if m % 17 == 0 else 99 for m in members}
    hold_until = dict.fromkeys(members, -1)
    season = Season()
    for r in range(30):
        for m in members:
            if hold_until[m] < r and rng.random() < 0.08:
                hold_until[m] = r + rng.randrange(1, 5)
        present = [c for m, c in members.items() if joins[m] <= r < leaves[m] and hold_until[m] < r]
        crops = [
            CropHarvest(1, rng.randrange(0, 400_000), KG),
            CropHarvest(2, rng.randrange(0, 60) * PIECE, PIECE),
            CropHarvest(3, 9 * PIECE, PIECE),  # scarce: 9 for ~130 claimants
            CropHarvest(4, rng.randrange(0, 3) * PIECE, PIECE),  # very scarce
        ]
        before = {k: season.balance(k) for k in season.entitled}
        result = season.play(crops, present)
        for cid, split in result.items():
            carried = [before.get((s.membership_id, cid), Fraction(0)) for s in split.shares]
            if not carried:
                continue
            lo, hi = min(carried), max(carried)
            for s in split.shares:
                assert min(lo, 0) - 1 < s.balance_out < max(hi, 1) + 1
                if lo > -1 and hi < 1:
                    assert -2 < s.balance_out < 2
        assert season.worst() < 2


def test_no_constant_bound_for_adversarial_holds() -> None:
    """The documented limit: pair off 8 equal members, winners of each level meet again.

    Whatever the rounding, a pair sharing one unit ends at x - 1/2 and x + 1/2; three levels
    leave one member owed 3/2 steps. (Only a hold pattern steered by balances does this.)
    """
    season = Season()
    pumpkin = [CropHarvest(1, PIECE, PIECE)]

    def owed_most(group: list[int]) -> int:
        return max(group, key=lambda m: season.balance((m, 1)))

    def level(groups: list[list[int]]) -> list[int]:
        winners = []
        for group in groups:
            season.play(pumpkin, [Claimant(m, 1000) for m in group])
            winners.append(owed_most(group))
        return winners

    first = level([[1, 2], [3, 4], [5, 6], [7, 8]])
    second = level([first[:2], first[2:]])
    third = level([second])
    assert season.balance((third[0], 1)) == Fraction(3, 2)


# ---------------------------------------------------------------------------------------------
# Input checks and housekeeping


def test_bad_input_is_refused() -> None:
    crop = CropHarvest(1, 1_000, PIECE)
    with pytest.raises(ValueError, match="twice"):
        split_crop("k", crop, [Claimant(1, 1000), Claimant(1, 500)])
    with pytest.raises(ValueError, match="positive weight"):
        split_crop("k", crop, [Claimant(1, 0)])
    with pytest.raises(ValueError, match="step"):
        split_crop("k", CropHarvest(1, 1_000, 0), equal(2))
    with pytest.raises(ValueError, match="negative"):
        split_crop("k", CropHarvest(1, -1, PIECE), equal(2))
    with pytest.raises(ValueError, match="crop appears twice"):
        split_round("k", [crop, crop], equal(2))
    with pytest.raises(TypeError, match="never floats"):
        split_crop("k", crop, equal(2), {1: 0.5})  # type: ignore[dict-item]


def test_int_balances_and_shares_are_frozen() -> None:
    split = split_crop("k", CropHarvest(1, 3_000, PIECE), equal(3), {1: 1, 2: 0, 3: -1})
    assert [s.units for s in split.shares] == [2, 1, 0]
    share = split.shares[0]
    with pytest.raises(AttributeError):
        share.units = 5  # type: ignore[misc]
    assert "membership_id=1" in repr(share)


def test_collector_state_is_restored() -> None:
    assert gc.isenabled()
    split_round("k", [CropHarvest(1, 1_000, PIECE)], equal(3))
    assert gc.isenabled()
    gc.disable()
    try:
        split_round("k", [CropHarvest(1, 1_000, PIECE)], equal(3))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_stored_share_rebuilds_what_was_split():
    """A locked round is read back from its stored numbers: the rebuilt shares explain the same."""
    from csa.core.allocation import stored_share

    claimants = [Claimant(1, 500), Claimant(2, 1000), Claimant(3, 1500, donated=True)]
    balances = {(1, 7): Fraction(1, 3), (2, 7): Fraction(-2, 5)}
    split = split_round("2027-05-04", [CropHarvest(7, 10_130, 50)], claimants, balances)[7]
    for share in split.shares:
        rebuilt = stored_share(
            share.membership_id,
            7,
            50,
            share.units,
            share.entitlement,
            share.balance_in,
            share.donated,
        )
        for attr in ("units", "quantity", "entitlement", "balance_in", "balance_out", "base"):
            assert getattr(rebuilt, attr) == getattr(share, attr), attr
        assert rebuilt.adjustment == share.adjustment
        assert rebuilt.donated == share.donated
