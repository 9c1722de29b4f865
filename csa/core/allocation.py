"""Split a round's harvest among memberships in whole steps, fair over the whole season.

Pure Python on purpose (no Flask, no database): the split is the heart of the product, so it
is kept small, exact and testable on its own. The services layer gathers the claimants, the
harvest and the season balances, calls `split_round`, and stores what comes back.

Units
-----
Every quantity is an integer in thousandths of the crop's unit ("milli": 1 kg = 1000,
0.05 kg = 50, 1 piece = 1000) and a crop's `step` is milli too, so `units = quantity // step`
and the surplus `quantity - units * step` is reported, never lost. Weights are integers in
thousandths (half 500, full 1000, family 1500), already multiplied by the number of shares.
Entitlements and balances are counted in steps and kept exact (`Fraction`), never floats.

The rule (the README's "Harvests and the split")
---------------------------------
For one crop, claimant *i* with weight w_i is entitled to e_i = units * w_i / sum(w) steps.
Its season balance b_i (entitled minus received so far, in steps) is carried in, and

* value_i = e_i + b_i, base_i = max(0, floor(value_i)), remainder_i = value_i - base_i;
* the k = units - sum(base) units left go one each to the claimants with a positive
  remainder whose remainder is *largest relative to weight*: smallest (1 - remainder_i) / w_i,
  i.e. the member who, if skipped, would soonest fall a whole step behind;
* if the floors add up to more than the units (possible only after claimants came or went),
  units are taken back one at a time from the smallest remainder (never below zero, so a
  member is taken back at most once per pass and passes repeat while still over);
* should units remain once every positive remainder got one (again only after claimants came
  or went), they go one at a time to the largest remaining value (value_i - units_i);
* every tie is broken by a stable hash of (round_key, crop_id, membership_id), never by list
  or id order; claimants are sorted first, so the input order never matters.

Why "relative to weight" and not the plain largest remainder: with mixed weights the plain
rule drifts. Random seasons with unchanged membership and weights 0.5/1/1.5/2/3 (4 in 2,000
seasons of 60 rounds; the tests keep a 7-member, 23-round one with half and family shares)
reach a round whose floors exceed the units, so a member ends owed a whole step or more.
Ranking by (1 - remainder) / weight is the earliest-deadline rule below, which provably
never drifts; for equal weights it *is* the largest remainder.

Guarantees (b = a member's balance for a crop, in steps; the tests check each one)
----------------------------------------------------------------------------------
1. Conservation: sum of quantities + surplus == quantity harvested, exactly.
2. No negatives; a member that opted out of a crop gets no `Share` for it.
3. Unchanged membership: if a crop's claimants and their weights are the same in every round
   since the balances were all zero (the start of the season), then after every round
   -1 < b < 1 (strictly), the floors never exceed the units and nothing is taken back.
   So every member's season total is within one step of its exact entitlement.

   Proof sketch. Count the crop's units over the season as one run of slots 1, 2, 3, ...;
   a member with fraction p_i = w_i / sum(w) needs its c-th unit by slot c / p_i (else b
   reaches 1) and may get it only after slot (c - 1) / p_i (else b reaches -1). These are
   unit jobs with release times and deadlines of total density sum(p_i) = 1, so every window
   of slots has room for the jobs that must fall in it, and earliest-deadline-first never
   misses one (Horn's condition; the "chairman assignment" problem). In a round of U slots
   the jobs due inside the round are exactly the floors, the released ones are the positive
   remainders, and the deadline of a member's next job is (1 - remainder) / p_i slots after
   the round. Handing the k extra units to the k earliest of those deadlines leaves every
   later window at most as full as EDF would (swap argument), so the state stays feasible
   for any future harvests: floors never exceed units and -1 < b < 1.
4. Proportion: with no balances carried in (the first round), a larger weight never gets
   fewer units than a smaller one (floor, remainder and rank are all monotone in weight).
5. Determinism: same data, same split, whatever order claimants come in.
6. Explainable: every `Share` carries entitlement, balance in, base and adjustment, with
   base + adjustment == units and balance_out == balance_in + entitlement - units.

Holds and joins (claimants that come and go between rounds)
-----------------------------------------------------------
A member on a hold that gives its share to the others, or one that opted out of the crop in
this round, is simply not a claimant: its balance is frozen until it is back; a member that
joins starts at 0. The others then share a harvest while owing (or being owed) the frozen
balances, and no method can keep guarantee 3 (see below). What this module proves, for any
claimant set and any round:

* if every claimant carries in -1 < b < 1 (true for everyone while membership was unchanged),
  then after the round -2 < b < 2: each member is taken back at most once (the overflow is
  below the number of members with a floor >= 1), and a member given a unit beyond the
  positive remainders is given it while its value is still above -1;
* in general, from carried-in balances within [lo, hi], the round leaves every balance in
  (min(lo, 0) - 1, max(hi, 1) + 1): a round can widen the range by less than one step, and
  only when units must be taken back twice from someone or given beyond the remainders.

No constant bound exists for arbitrary hold patterns, whatever the rounding: take 2^j equal
members, let only pairs be present, one unit each time; each pair must end (x - 1/2, x + 1/2)
and pairing the winners of the last level again gives one member a balance of j / 2 after
2^j - 1 rounds. Holds as they happen (a few rounds, not steered by balances) did not even
reach one step, nor need a take-back, in the simulated seasons of the tests.

Speed
-----
Target: 5,000 memberships x 30 crops in under 0.3 s (`python -m tools.splitbench`). Per crop
everything is an integer over one common denominator D = lcm(sum(w), balance denominators):
value numerators, floors and remainders come from integer division, the extra units from
one sort of integer keys (position packed in the low digits), and the tie hash is mixed only
for members tied at the cut. `Share` stores six slots and builds its `Fraction`s when read,
and the cyclic garbage collector is paused while ~150,000 shares are allocated.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import math
from bisect import bisect_left
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from itertools import repeat
from numbers import Rational
from typing import NamedTuple

__all__ = [
    "Claimant",
    "CropHarvest",
    "CropSplit",
    "Share",
    "describe",
    "split_crop",
    "split_round",
    "stored_share",
]

_MASK64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Claimant:
    """One eligible membership in this round (a donated share is split as usual, then flagged)."""

    membership_id: int
    weight: int  # thousandths, already multiplied by the number of shares
    donated: bool = False


@dataclass(frozen=True, slots=True)
class CropHarvest:
    """What came off the field for one crop in this round, in milli, and its step in milli."""

    crop_id: int
    quantity: int
    step: int


class _Scale(NamedTuple):
    """Per-crop numbers a `Share` needs to rebuild its exact values (cheap, equal by value)."""

    crop_id: int
    step: int  # milli per unit
    per_weight: int  # entitlement numerator over `den` per unit of (reduced) weight
    den: int  # the crop's common denominator D


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class Share:
    """What one membership gets of one crop, with everything needed to explain it.

    Only a few integers are stored; `crop_id`, `quantity`, `base`, `adjustment` are derived
    and `entitlement`, `balance_in`, `balance_out` are exact `Fraction`s (in steps) built
    when read: constructing 150,000 of them per round would cost more than the split.
    Equality and hashing go by what a caller can see, not by the stored denominator.
    """

    membership_id: int
    units: int  # steps received
    donated: bool
    _weight: int  # weight as used in the split (divided by the round's gcd)
    _value: int  # (entitlement + balance_in) * den
    _scale: _Scale

    @property
    def crop_id(self) -> int:
        """The crop this share is of."""
        return self._scale.crop_id

    @property
    def quantity(self) -> int:
        """Milli of the crop's unit: units * step."""
        return self.units * self._scale.step

    @property
    def base(self) -> int:
        """floor(entitlement + balance_in), never below 0: what rounding down alone gives."""
        return max(0, self._value // self._scale.den)

    @property
    def adjustment(self) -> int:
        """+1 for a unit left over (largest remainder), -1 when taken back, 0 otherwise.

        Only after claimants came or went can it be +2/-2 or more (repeated passes).
        """
        return self.units - self.base

    @property
    def entitlement(self) -> Fraction:
        """Exact steps due this round: units * weight / total weight."""
        return Fraction(self._scale.per_weight * self._weight, self._scale.den)

    @property
    def balance_in(self) -> Fraction:
        """Season balance carried in, in steps (entitled minus received before this round)."""
        scale = self._scale
        return Fraction(self._value - scale.per_weight * self._weight, scale.den)

    @property
    def balance_out(self) -> Fraction:
        """Balance to carry into the next round: balance_in + entitlement - units."""
        return Fraction(self._value - self.units * self._scale.den, self._scale.den)

    def _public(self) -> tuple[object, ...]:
        return (
            self.membership_id,
            self.crop_id,
            self.units,
            self.quantity,
            self.donated,
            self.entitlement,
            self.balance_in,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Share):
            return NotImplemented
        return self._public() == other._public()

    def __hash__(self) -> int:
        return hash(self._public())

    def __repr__(self) -> str:
        return (
            f"Share(membership_id={self.membership_id}, crop_id={self.crop_id}, "
            f"units={self.units}, base={self.base}, adjustment={self.adjustment}, "
            f"entitlement={self.entitlement}, balance_in={self.balance_in}, "
            f"donated={self.donated})"
        )


@dataclass(frozen=True, slots=True)
class CropSplit:
    """The split of one crop: units handed out, surplus in milli, one `Share` per claimant."""

    crop_id: int
    units: int  # units handed out (0 when nobody claims the crop)
    surplus: int  # milli left over, never lost
    shares: list[Share]  # sorted by membership_id


# ---------------------------------------------------------------------------------------------
# Public entry points


def stored_share(
    membership_id: int,
    crop_id: int,
    step: int,
    units: int,
    entitlement: Fraction,
    balance_in: Fraction,
    donated: bool,
) -> Share:
    """Rebuild a Share from a stored allocation: its exact entitlement and balance carried in.

    The services layer reads locked rounds back through this, so the private layout of
    `Share` stays in this module.
    """
    den = math.lcm(entitlement.denominator, balance_in.denominator)
    per_weight = entitlement.numerator * (den // entitlement.denominator)
    value = per_weight + balance_in.numerator * (den // balance_in.denominator)
    return Share(membership_id, units, donated, 1, value, _Scale(crop_id, step, per_weight, den))


def split_crop(
    round_key: str,
    crop: CropHarvest,
    claimants: Sequence[Claimant],
    balances: Mapping[int, Fraction] | None = None,
) -> CropSplit:
    """Split one crop; `balances` maps membership_id to its season balance for this crop."""
    table = _Claimants(claimants)
    get = (balances or {}).get
    with _collector_paused():
        return _split_one(round_key, crop, table, None, [get(mid) for mid in table.ids])


def split_round(
    round_key: str,
    crops: Sequence[CropHarvest],
    claimants: Sequence[Claimant],
    balances: Mapping[tuple[int, int], Fraction] | None = None,
    opt_outs: Collection[tuple[int, int]] = (),
) -> dict[int, CropSplit]:
    """Split every crop of a round; returns crop_id -> `CropSplit`.

    `balances` maps (membership_id, crop_id) to the season balance carried in (missing means
    0); `opt_outs` holds (membership_id, crop_id) pairs that take no part in that crop.
    """
    crop_ids = [crop.crop_id for crop in crops]
    if len(set(crop_ids)) != len(crop_ids):
        raise ValueError("a crop appears twice in the round")
    table = _Claimants(claimants)
    out_by_crop: dict[int, set[int]] = {}
    for mid, cid in opt_outs:
        out_by_crop.setdefault(cid, set()).add(mid)
    get = (balances or {}).get
    result: dict[int, CropSplit] = {}
    with _collector_paused():
        for crop in crops:
            cid = crop.crop_id
            out = out_by_crop.get(cid)
            members = [i for i, mid in enumerate(table.ids) if mid not in out] if out else None
            mids = table.ids if members is None else [table.ids[i] for i in members]
            bals: list[Fraction | int | None] = (
                [get((mid, cid)) for mid in mids] if balances else [None] * len(mids)
            )
            result[cid] = _split_one(round_key, crop, table, members, bals)
    return result


def describe(share: Share) -> dict[str, str]:
    """Exact strings a page can show to say how an allocation was reached.

    Fractions are printed as "p/q" and as decimals to 3 places (half to even); amounts are
    in steps of the crop, `quantity` in milli of its unit.
    """
    entitlement, balance_in, balance_out = share.entitlement, share.balance_in, share.balance_out
    adjustment = share.adjustment
    if adjustment > 0:
        rounding = "left-over unit (largest remainder)"
    elif adjustment < 0:
        rounding = "taken back (others were owed more than there was)"
    else:
        rounding = "rounded down"
    return {
        "entitlement": str(entitlement),
        "entitlement_decimal": _decimal3(entitlement),
        "balance_in": str(balance_in),
        "balance_in_decimal": _decimal3(balance_in),
        "total": str(entitlement + balance_in),
        "total_decimal": _decimal3(entitlement + balance_in),
        "base": str(share.base),
        "adjustment": f"{adjustment:+d}" if adjustment else "0",
        "rounding": rounding,
        "units": str(share.units),
        "quantity": str(share.quantity),
        "balance_out": str(balance_out),
        "balance_out_decimal": _decimal3(balance_out),
        "donated": "yes" if share.donated else "no",
    }


# ---------------------------------------------------------------------------------------------
# Internals


def _decimal3(value: Fraction) -> str:
    """A fraction as a decimal with exactly three places, rounded half to even."""
    thousandths = round(value * 1000)
    sign = "-" if thousandths < 0 else ""
    whole, frac = divmod(abs(thousandths), 1000)
    return f"{sign}{whole}.{frac:03d}"


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a split allocates its shares.

    A round allocates ~150,000 small objects and no reference cycles; left on, the collector
    walks the whole heap several times meanwhile, which measured as ~40% of the split.
    Reference counting still frees everything as usual; only the cycle search waits.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _hash64(text: str) -> int:
    """A stable 64-bit hash (unlike hash(), the same in every process and Python version)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


_MUL1 = 0xBF58476D1CE4E5B9  # splitmix64's multipliers
_MUL2 = 0x94D049BB133111EB


def _mix(x: int) -> int:
    """Spread (salt ^ member hash) over 64 bits cheaply; `_Ties.first` inlines the same."""
    y = (x * _MUL1) & _MASK64
    return ((y ^ (y >> 29)) * _MUL2) & _MASK64


class _Claimants:
    """The claimants of a round, sorted by membership_id, with per-member constants.

    Computed once per round and shared by every crop: weights divided by their gcd (any
    common factor cancels in w_i / sum(w)), lcm(weights) // w_i to rank by
    (1 - remainder) / weight in integers, and a stable per-membership hash for ties.
    """

    __slots__ = ("donated", "hashes", "ids", "ranks", "weights")

    def __init__(self, claimants: Sequence[Claimant]) -> None:
        ordered = sorted(claimants, key=lambda c: c.membership_id)
        self.ids = [c.membership_id for c in ordered]
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("a membership appears twice among the claimants")
        raw = [c.weight for c in ordered]
        if raw and min(raw) <= 0:
            raise ValueError("every claimant needs a positive weight")
        gcd = math.gcd(*raw) if raw else 1
        self.weights = [w // gcd for w in raw] if gcd > 1 else raw
        distinct = set(self.weights)
        lcm = math.lcm(*distinct) if distinct else 1
        rank = {w: lcm // w for w in distinct}
        self.ranks = [rank[w] for w in self.weights]
        self.donated = [c.donated for c in ordered]
        self.hashes = [_hash64(f"m{mid}") for mid in self.ids]


def _split_one(
    round_key: str,
    crop: CropHarvest,
    table: _Claimants,
    members: list[int] | None,
    bals: list[Fraction | int | None],
) -> CropSplit:
    """Split one crop among `members` (indices into `table`, None for all), balances aligned."""
    cid, quantity, step = crop.crop_id, crop.quantity, crop.step
    if not isinstance(quantity, int) or not isinstance(step, int):
        raise TypeError(f"crop {cid}: quantity and step are integers in milli, never floats")
    if step <= 0:
        raise ValueError(f"crop {cid}: the step must be positive")
    if quantity < 0:
        raise ValueError(f"crop {cid}: the quantity cannot be negative")
    if members is None:
        mids, weights, ranks, donated = table.ids, table.weights, table.ranks, table.donated
    else:
        mids = [table.ids[i] for i in members]
        weights = [table.weights[i] for i in members]
        ranks = [table.ranks[i] for i in members]
        donated = [table.donated[i] for i in members]
    if not mids:
        return CropSplit(cid, 0, quantity, [])
    units = quantity // step
    den, per_weight, vals = _values(units, weights, bals)
    got = [v // den if v > 0 else 0 for v in vals]  # the bases; adjusted in place below
    left = units - sum(got)
    if left:
        ties = _Ties(_hash64(f"{round_key}\x1f{cid}"), table, members)
        if left > 0:
            _hand_out(left, got, vals, den, ranks, ties)
        else:
            _take_back(-left, got, vals, den, ties)
    scale = _Scale(cid, step, per_weight, den)
    shares = list(map(_new_share, mids, got, donated, weights, vals, repeat(scale)))
    return CropSplit(cid, units, quantity - units * step, shares)


def _values(
    units: int, weights: list[int], bals: list[Fraction | int | None]
) -> tuple[int, int, list[int]]:
    """(den, per_weight, numerators of entitlement + balance over den), all integers.

    den = lcm(sum(w), balance denominators), so value_i = vals[i] / den exactly and the
    entitlement is per_weight * w_i / den.
    """
    total = sum(weights)
    kinds = set(map(type, bals))
    kinds.discard(type(None))
    if not kinds:
        return total, units, [units * w for w in weights]
    if kinds == {Fraction} and _FRACTION_SLOTS:
        # Fraction.numerator/denominator are Python-level properties; the slots are not.
        dens = {b._denominator for b in bals if b is not None}  # type: ignore[union-attr]
        den = math.lcm(total, *dens)
        per_weight = units * (den // total)
        factor = {d: den // d for d in dens}
        vals = [
            per_weight * w if b is None else per_weight * w + b._numerator * factor[b._denominator]  # type: ignore[union-attr]
            for w, b in zip(weights, bals, strict=True)
        ]
        return den, per_weight, vals
    for kind in kinds:
        if not issubclass(kind, Rational):
            raise TypeError("balances must be exact (int or Fraction), never floats")
    pairs = [None if b is None else (b.numerator, b.denominator) for b in bals]
    dens = {pair[1] for pair in pairs if pair is not None}
    den = math.lcm(total, *dens)
    per_weight = units * (den // total)
    factor = {d: den // d for d in dens}
    vals = [
        per_weight * w if pair is None else per_weight * w + pair[0] * factor[pair[1]]
        for w, pair in zip(weights, pairs, strict=True)
    ]
    return den, per_weight, vals


_FRACTION_SLOTS = hasattr(Fraction(1, 2), "_numerator") and hasattr(Fraction(1, 2), "_denominator")

_object_new = object.__new__
_set_membership = vars(Share)["membership_id"].__set__
_set_units = vars(Share)["units"].__set__
_set_donated = vars(Share)["donated"].__set__
_set_weight = vars(Share)["_weight"].__set__
_set_value = vars(Share)["_value"].__set__
_set_scale = vars(Share)["_scale"].__set__


def _new_share(
    mid: int, units: int, donated: bool, weight: int, value: int, scale: _Scale
) -> Share:
    """Share(...) without the frozen-dataclass __init__, which is about 2x slower per object.

    The slot descriptors write exactly the fields the generated __init__ would; once
    returned the instance is as frozen as any other.
    """
    share = _object_new(Share)
    _set_membership(share, mid)
    _set_units(share, units)
    _set_donated(share, donated)
    _set_weight(share, weight)
    _set_value(share, value)
    _set_scale(share, scale)
    return share


class _Ties:
    """Tie-break keys: a stable hash of (round, crop, membership), then membership_id."""

    __slots__ = ("_hashes", "_ids", "_members", "_salt")

    def __init__(self, salt: int, table: _Claimants, members: list[int] | None) -> None:
        self._salt = salt
        self._hashes = table.hashes
        self._ids = table.ids
        self._members = members

    def key(self, pos: int) -> tuple[int, int]:
        """Sort key for the claimant at position `pos` among this crop's claimants."""
        i = pos if self._members is None else self._members[pos]
        return (_mix(self._salt ^ self._hashes[i]), self._ids[i])

    def first(self, positions: list[int], count: int) -> list[int]:
        """The `count` positions that come first by `key`, computed without a call per item."""
        salt, hashes, ids, members = self._salt, self._hashes, self._ids, self._members
        index = positions if members is None else [members[p] for p in positions]
        mixed = [
            ((y := ((salt ^ hashes[i]) * _MUL1) & _MASK64) ^ (y >> 29)) * _MUL2 & _MASK64
            for i in index
        ]
        order = sorted(zip(mixed, [ids[i] for i in index], positions, strict=True))
        return [pos for _, _, pos in order[:count]]


def _hand_out(
    left: int, got: list[int], vals: list[int], den: int, ranks: list[int], ties: _Ties
) -> None:
    """Give `left` units: first to positive remainders by (1 - remainder) / weight, then on."""
    n = len(vals)
    # (1 - r/den) / w in integers: (den - r) * (lcm(w) // w); smaller goes first. The
    # position rides along in the low digits (key * n + p) so one sort of ints does it all.
    keys = [
        (den - r) * rank * n + p
        for p, (v, rank) in enumerate(zip(vals, ranks, strict=True))
        if v > 0 and (r := v % den)
    ]
    if len(keys) <= left:
        chosen = [key % n for key in keys]
    else:
        keys.sort()
        cut = keys[left - 1] // n
        if keys[left] // n != cut:
            chosen = [key % n for key in keys[:left]]
        else:
            low = bisect_left(keys, cut * n)
            high = bisect_left(keys, (cut + 1) * n, low)
            tied = ties.first([key % n for key in keys[low:high]], left - low)
            chosen = [key % n for key in keys[:low]] + tied
    for p in chosen:
        got[p] += 1
    left -= len(chosen)
    if left:
        # Only after claimants came or went: the largest remaining value gets the next unit.
        pairs = enumerate(zip(vals, got, strict=True))
        heap = [(g * den - v, ties.key(p), p) for p, (v, g) in pairs]
        heapq.heapify(heap)
        for _ in range(left):
            neg, tie, p = heapq.heappop(heap)
            got[p] += 1
            heapq.heappush(heap, (neg + den, tie, p))


def _take_back(over: int, got: list[int], vals: list[int], den: int, ties: _Ties) -> None:
    """Take `over` units back, one at a time from the smallest remainder, never below zero."""
    pairs = enumerate(zip(vals, got, strict=True))
    heap = [(v - g * den, ties.key(p), p) for p, (v, g) in pairs if g > 0]
    heapq.heapify(heap)
    for _ in range(over):
        rem, tie, p = heapq.heappop(heap)
        got[p] -= 1
        if got[p] > 0:
            heapq.heappush(heap, (rem + den, tie, p))
