"""The waiting list's order: per site and season, by rank, kept by the import, the register
form and a coordinator's reordering (csa/register/waiting.py)."""

from __future__ import annotations

from typing import Any

import pytest

from csa.models import MembershipStatus
from csa.register import csv_io as register_csv
from csa.register import waiting
from tests.factories import add_member, make_farm

HEADER = "name,email,phone,share_type,shares,site,season,start,end"


@pytest.fixture
def farm(db: Any) -> Any:
    farm = make_farm()
    db.session.commit()
    return farm


def test_joining_puts_a_household_last_and_says_its_position(db: Any, farm: Any) -> None:
    first = add_member(farm, site=farm.thursday, status=MembershipStatus.WAITING)
    assert waiting.join(first) == 1
    second = add_member(farm, site=farm.thursday)
    assert waiting.join(second) == 2
    other_site = add_member(farm, site=farm.tuesday)
    assert waiting.join(other_site) == 1  # every site has a list of its own
    db.session.commit()
    assert waiting.waiting_list(farm.thursday.id, farm.season.id) == [first, second]
    assert second.status == MembershipStatus.WAITING


def test_moving_and_leaving_renumber_the_list(db: Any, farm: Any) -> None:
    line = [add_member(farm, site=farm.thursday) for _ in range(4)]
    for m in line:
        waiting.join(m)
    waiting.move(line[3], -2)
    assert waiting.waiting_list(farm.thursday.id, farm.season.id) == [
        line[0],
        line[3],
        line[1],
        line[2],
    ]
    waiting.move(line[0], 10)  # past the end: last
    assert waiting.position(line[0]) == 4
    waiting.leave(line[3], MembershipStatus.ACTIVE)
    assert line[3].waiting_rank is None
    assert [waiting.position(m) for m in (line[1], line[2], line[0])] == [1, 2, 3]


def test_free_places_count_active_and_paused(db: Any, farm: Any) -> None:
    add_member(farm, site=farm.thursday)
    add_member(farm, site=farm.thursday, status=MembershipStatus.PAUSED)
    add_member(farm, site=farm.thursday, status=MembershipStatus.WAITING)
    assert waiting.free_places(farm.thursday, farm.season) == farm.thursday.capacity - 2


def test_the_import_ranks_newcomers_in_file_order_after_those_waiting(db: Any, farm: Any) -> None:
    for _ in range(farm.thursday.capacity):
        add_member(farm, site=farm.thursday)
    early = add_member(farm, site=farm.thursday)
    waiting.join(early)
    db.session.commit()
    rows = "".join(
        f"Person {i},p{i}@example.org,,Full,1,Town Hall,Season 2027,,\n" for i in range(3)
    )
    summary = register_csv.import_members(f"{HEADER}\n{rows}".encode())
    db.session.commit()
    assert summary.waiting == 3
    names = [m.member.name for m in waiting.waiting_list(farm.thursday.id, farm.season.id)]
    assert names == [early.member.name, "Person 0", "Person 1", "Person 2"]


def test_a_newcomer_never_jumps_the_waiting_list(db: Any, farm: Any) -> None:
    site = farm.thursday  # capacity 3
    for _ in range(site.capacity - 1):
        add_member(farm, site=site)
    waits = add_member(farm, site=site)
    waiting.join(waits)
    assert waiting.free_places(site, farm.season) == 1  # the offers job gives it to `waits`
    assert waiting.places_for_newcomers(site, farm.season) == 0
    waiting.leave(waits, MembershipStatus.ENDED)
    assert waiting.places_for_newcomers(site, farm.season) == 1
