"""Time `split_round` on a synthetic round (`python -m tools.splitbench`, `tools.bench split`).

The round looks like a real one: mixed share sizes, crops in kg (step 0.05 kg) and in pieces,
a few opt-outs and donated shares, and balances that are not made up but carried out of two
earlier rounds split by the same code (with a few members on hold in each), so their
denominators are the ones the service will really pass in. Only the third split is timed.
"""

from __future__ import annotations

import random
import statistics
import time
from fractions import Fraction

from csa.core.allocation import Claimant, CropHarvest, CropSplit, split_round

KG_STEP = 50  # 0.05 kg in milli
PIECE_STEP = 1000


def _crops(rng: random.Random, crops: int, total_weight: int) -> list[CropHarvest]:
    """Half the crops in kg, half in pieces; some plentiful, some scarce."""
    full_shares = total_weight / 1000
    harvest = []
    for cid in range(1, crops + 1):
        if cid % 2:
            per_share_kg = rng.choice([0.2, 0.5, 1.0, 1.5, 3.0])
            quantity = int(full_shares * per_share_kg * 1000) + rng.randrange(1000)
            harvest.append(CropHarvest(cid, quantity, KG_STEP))
        else:
            per_share_pieces = rng.choice([0.05, 0.3, 1.0, 2.0, 4.0])
            quantity = int(full_shares * per_share_pieces) * 1000 + rng.randrange(1000)
            harvest.append(CropHarvest(cid, quantity, PIECE_STEP))
    return harvest


def _round_input(
    rng: random.Random, memberships: int, crops: int
) -> tuple[list[CropHarvest], list[Claimant], set[tuple[int, int]]]:
    claimants = [
        Claimant(
            membership_id=mid,
            weight=rng.choice([500, 1000, 1500]) * rng.choice([1, 1, 1, 2]),
            donated=rng.random() < 0.02,
        )
        for mid in range(1, memberships + 1)
    ]
    total = sum(c.weight for c in claimants)
    opt_outs = {
        (c.membership_id, cid)
        for c in claimants
        for cid in range(1, crops + 1)
        if rng.random() < 0.01
    }
    return _crops(rng, crops, total), claimants, opt_outs


def _carry(balances: dict[tuple[int, int], Fraction], split: dict[int, CropSplit]) -> None:
    for crop_split in split.values():
        for share in crop_split.shares:
            balances[share.membership_id, share.crop_id] = share.balance_out


def bench_split(memberships: int = 5000, crops: int = 30, repeat: int = 5) -> dict[str, object]:
    """Median wall seconds (perf_counter) of `split_round` for one round, after two earlier
    rounds made the balances; also the median CPU seconds, which a busy machine disturbs less.
    """
    rng = random.Random(20270601)
    harvest, claimants, opt_outs = _round_input(rng, memberships, crops)
    balances: dict[tuple[int, int], Fraction] = {}
    for week in ("2027-05-18", "2027-05-25"):
        present = [c for c in claimants if rng.random() > 0.03]  # a few on hold
        earlier = _crops(rng, crops, sum(c.weight for c in present))
        _carry(balances, split_round(week, earlier, present, balances, opt_outs))

    samples, cpu = [], []
    result: dict[int, CropSplit] = {}
    for _ in range(max(1, repeat)):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = split_round("2027-06-01", harvest, claimants, balances, opt_outs)
        samples.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    shares = sum(len(s.shares) for s in result.values())
    return {
        "median_s": round(statistics.median(samples), 4),
        "min_s": round(min(samples), 4),
        "runs": [round(s, 4) for s in samples],
        "cpu_median_s": round(statistics.median(cpu), 4),  # this process only: robust to load
        "memberships": memberships,
        "crops": crops,
        "shares": shares,
        "balances_in": len(balances),
    }


if __name__ == "__main__":
    print(bench_split())
