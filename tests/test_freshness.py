"""An open round's split is computed once per change of its inputs, and never shown stale.

Every input of the split is changed in turn; the member's pages (through the test client)
must change, and must equal what a cold cache shows. csa/rounds/freshness.py has the design.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time

import pytest
from sqlalchemy import delete, select, update

from csa.models import (
    Allocation,
    DataVersion,
    HarvestEntry,
    Hold,
    HoldMode,
    Member,
    MembershipStatus,
    OptOut,
    PickupSite,
    Role,
    Round,
    RoundStatus,
)
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.freshness import (
    balance_version,
    carried_balances,
    clear_caches,
    current_version,
    live_split_inputs,
    live_splits,
)
from csa.rounds.split import compute_split, membership_split, round_split, stored_split
from csa.share import operations as share_svc
from csa.share import queries as share_queries
from tests.factories import add_member, make_farm
from tests.test_rounds import NEXT_TUESDAY, TUESDAY, harvest, make_round


@pytest.fixture
def today(monkeypatch):
    """The farm's day: before the season, so the first Tuesday round is "this round"."""
    pinned = {"value": date(2027, 4, 20)}
    monkeypatch.setattr(rounds_svc, "farm_today", lambda: pinned["value"])
    return pinned


@pytest.fixture
def world(db, today, make_user, auth):
    """Ada (signed in, full) and three others at two Tuesday sites; one harvested round."""
    farm = make_farm()
    annex = PickupSite(name="Annex", weekday=1, opens=time(16), closes=time(19))
    db.session.add(annex)
    db.session.flush()
    ada = add_member(farm, name="Ada Lovelace")
    bob = add_member(farm, name="Bob Brown", share_type=farm.half)
    cy = add_member(farm, name="Cy Young")
    dee = add_member(farm, name="Dee Annex", site=annex)
    round_ = make_round(db)
    harvest(db, round_, farm.tomatoes, 3_100)
    harvest(db, round_, farm.pumpkins, 9_000)
    db.session.commit()
    user = make_user(Role.MEMBER, member=ada.member)
    auth.login(user.email)
    clear_caches()
    return farm, annex, [ada, bob, cy, dee], round_


def _between(html: str, start: str, end: str) -> str:
    head = html.index(start)
    return html[head : html.index(end, head)]


def shown(client, on_date: date = TUESDAY) -> str:
    """What Ada sees of a round: "My share"'s round card, her round page, her explanation."""
    mine = client.get("/share/")
    assert mine.status_code == 200
    card = _between(mine.get_data(as_text=True), 'id="this-round"', "</section>")
    page = client.get(f"/share/round/{on_date.isoformat()}").get_data(as_text=True)
    return card + _between(page, "<h1>", "</main>")


def fresh(client, on_date: date = TUESDAY) -> str:
    """The pages, checked equal to what a cold cache shows: nothing stale."""
    seen = shown(client, on_date)
    clear_caches()
    assert shown(client, on_date) == seen
    return seen


def _harvest_add(db, farm, annex, members, round_):
    harvest(db, round_, farm.tomatoes, 1_500)


def _harvest_update(db, farm, annex, members, round_):
    entry = db.session.scalars(select(HarvestEntry).where(HarvestEntry.crop_id == farm.tomatoes.id))
    entry.first().quantity_milli = 6_200


def _harvest_delete(db, farm, annex, members, round_):
    db.session.execute(delete(HarvestEntry).where(HarvestEntry.crop_id == farm.pumpkins.id))


def _hold_set(db, farm, annex, members, round_):
    db.session.add(Hold(membership_id=members[2].id, round_date=TUESDAY, mode=HoldMode.OTHERS))


def _opt_out(db, farm, annex, members, round_):
    db.session.add(OptOut(membership_id=members[1].id, crop_id=farm.pumpkins.id))


def _membership_change(db, farm, annex, members, round_):
    members[2].shares = 3


def _membership_pause(db, farm, annex, members, round_):
    members[1].status = MembershipStatus.PAUSED


def _share_type_weight(db, farm, annex, members, round_):
    farm.half.weight_milli = 2_000


def _site_weekday(db, farm, annex, members, round_):
    annex.weekday = 2


def _site_inactive(db, farm, annex, members, round_):
    annex.active = False


def _crop_step(db, farm, annex, members, round_):
    farm.tomatoes.step_milli = 700


CHANGES: list[Callable[..., None]] = [
    _harvest_add,
    _harvest_update,
    _harvest_delete,
    _hold_set,
    _opt_out,
    _membership_change,
    _membership_pause,
    _share_type_weight,
    _site_weekday,
    _site_inactive,
    _crop_step,
]


@pytest.mark.parametrize("change", CHANGES, ids=[c.__name__.strip("_") for c in CHANGES])
def test_each_input_changes_the_members_pages(app, client, db, world, change):
    farm, annex, members, round_ = world
    assert shown(client) == shown(client)  # warm
    before = fresh(client)
    change(db, farm, annex, members, round_)
    db.session.commit()
    after = fresh(client)
    assert after != before


def test_clearing_a_hold_changes_the_page_back(app, client, db, world):
    farm, annex, members, round_ = world
    before = fresh(client)
    share_svc.set_hold(members[2], TUESDAY, HoldMode.OTHERS, date(2027, 4, 20))
    db.session.commit()
    held = fresh(client)
    share_svc.clear_hold(members[2], TUESDAY, date(2027, 4, 20))
    db.session.commit()
    assert held != before
    assert fresh(client) == before


def test_locking_and_reopening_an_earlier_round_moves_the_balances(app, client, db, world, today):
    """The balances of round 2 come from round 1's stored allocations."""
    farm, annex, members, first = world
    second = make_round(db, NEXT_TUESDAY)
    harvest(db, second, farm.pumpkins, 1_000)  # one pumpkin: who gets it depends on balances
    harvest(db, second, farm.tomatoes, 200)
    db.session.commit()
    today["value"] = date(2027, 5, 5)
    before = fresh(client, NEXT_TUESDAY)
    assert rounds_svc.lock_round(first)
    db.session.commit()
    locked = fresh(client, NEXT_TUESDAY)
    assert locked != before
    rounds_svc.reopen_round(first, None, "wrong harvest")
    db.session.commit()
    assert fresh(client, NEXT_TUESDAY) == before


def test_two_views_in_a_row_compute_the_split_once(app, client, db, world):
    farm, annex, members, round_ = world
    computed = live_splits.computed
    shown(client)
    assert live_splits.computed == computed + 1
    shown(client)
    client.get(f"/rounds/{TUESDAY.isoformat()}/explain/{members[0].id}")
    assert live_splits.computed == computed + 1
    harvest(db, round_, farm.tomatoes, 500)
    db.session.commit()
    shown(client)
    shown(client)
    assert live_splits.computed == computed + 2


def test_writes_bump_the_version_and_other_writes_do_not(app, db, world):
    farm, annex, members, round_ = world
    token, start = current_version()
    members[0].member.name = "Ada King"  # a name is not an input of the split
    db.session.commit()
    assert current_version() == (token, start)
    db.session.execute(update(Round).values(cutoff_at=datetime(2027, 5, 3, 18)))
    assert current_version() is None  # this transaction changed an input: no cache
    db.session.commit()
    assert current_version() == (token, start + 1)
    db.session.add(Hold(membership_id=members[1].id, round_date=TUESDAY))
    db.session.flush()
    db.session.rollback()
    assert current_version() == (token, start + 1)
    assert db.session.scalar(select(DataVersion.value)) == start + 1


def test_an_uncommitted_change_never_reaches_the_cache(app, client, db, world):
    farm, annex, members, round_ = world
    before = fresh(client)
    harvest(db, round_, farm.tomatoes, 9_000)
    assert compute_split(round_).harvested[farm.tomatoes.id] == 12_100  # sees its own change
    db.session.rollback()
    assert shown(client) == before
    assert compute_split(round_).harvested[farm.tomatoes.id] == 3_100


def test_member_split_matches_the_whole_round(app, db, world):
    """The per-membership read gives the same cells and hold as the whole-round read."""
    farm, annex, members, round_ = world
    db.session.add(Hold(membership_id=members[2].id, round_date=TUESDAY, mode=HoldMode.OTHERS))
    db.session.add(OptOut(membership_id=members[1].id, crop_id=farm.pumpkins.id))
    db.session.commit()
    for locked in (False, True):
        whole = round_split(round_)
        assert whole.stored is locked
        assert set(whole.memberships) == {m.id for m in members}
        assert whole.holds == {members[2].id: HoldMode.OTHERS}
        assert (members[1].id, farm.pumpkins.id) in whole.opt_outs
        for m in members:
            part = membership_split(round_, m)
            assert part.in_round
            assert part.shares == whole.shares_of(m.id)
            assert part.hold == whole.holds.get(m.id)
            assert set(part.crops) == {s.crop_id for s in part.shares}
        rounds_svc.lock_round(round_)
        db.session.commit()
    stored = stored_split(round_)
    assert stored.opt_outs == {(members[1].id, farm.pumpkins.id)}


def test_hold_controls_follow_the_rule_in_python(app, db, world, today):
    farm, annex, members, round_ = world
    later = make_round(db, NEXT_TUESDAY)
    cancelled = make_round(db, date(2027, 5, 18))
    cancelled.status = RoundStatus.CANCELLED
    past_cutoff = make_round(db, date(2027, 5, 25))
    past_cutoff.cutoff_at = datetime(2020, 1, 1)
    db.session.commit()
    rounds_svc.lock_round(later)
    db.session.commit()
    overview = share_queries.share_overview(members[0], today["value"])
    flags = {line.round.date: line.can_hold for line in [overview.current, *overview.upcoming]}
    assert flags[TUESDAY] is True
    assert flags[NEXT_TUESDAY] is False
    assert flags[date(2027, 5, 18)] is False
    assert flags[date(2027, 5, 25)] is False
    assert all(flag is False for flag in (line.can_hold for line in overview.past))
    assert db.session.get(Member, members[0].member_id) is not None


def test_a_harvest_save_recomputes_the_split_but_not_the_carried_balances(
    app, client, db, world, today
):
    """Balances come from locked rounds only: kept across harvest saves, read again after a
    lock. (Most of a recompute at 1,000 members with a season of history.)"""
    farm, annex, members, first = world
    second = make_round(db, NEXT_TUESDAY)
    harvest(db, second, farm.pumpkins, 1_000)
    db.session.commit()
    today["value"] = date(2027, 5, 5)
    shown(client, NEXT_TUESDAY)
    splits, balances = live_splits.computed, carried_balances.computed
    harvest(db, second, farm.tomatoes, 700)
    db.session.commit()
    shown(client, NEXT_TUESDAY)
    assert live_splits.computed == splits + 1
    assert carried_balances.computed == balances  # the same balances, from the cache
    assert rounds_svc.lock_round(first)
    db.session.commit()
    fresh(client, NEXT_TUESDAY)
    assert carried_balances.computed > balances


def test_only_allocations_and_rounds_bump_the_balance_version(app, db, world):
    farm, annex, members, round_ = world
    token, start = balance_version()
    harvest(db, round_, farm.tomatoes, 1_000)
    db.session.add(Hold(membership_id=members[1].id, round_date=TUESDAY))
    members[2].shares = 2
    db.session.commit()
    assert balance_version() == (token, start)
    assert rounds_svc.lock_round(round_)
    assert balance_version() is None  # changed in this transaction: nothing cached
    db.session.commit()
    locked = balance_version()
    assert locked is not None
    assert locked[1] > start
    allocation = db.session.scalars(select(Allocation)).first()
    allocation.balance_num += 1  # a hand edit of a stored split is seen too
    db.session.commit()
    assert balance_version()[1] > locked[1]


def test_a_harvest_save_splits_again_only_its_round_from_kept_inputs(app, client, db, world, today):
    """Harvest entries are in the split's key, not in the data version: a save to one
    round re-splits that round from inputs already read, and leaves the other round's
    split alone; the member's page still shows the new harvest."""
    farm, annex, members, first = world
    second = make_round(db, NEXT_TUESDAY)
    harvest(db, second, farm.pumpkins, 2_000)
    db.session.commit()
    version = current_version()
    for on_date in (TUESDAY, NEXT_TUESDAY):
        shown(client, on_date)
    splits, inputs = live_splits.computed, live_split_inputs.computed
    before = shown(client)
    harvest(db, first, farm.tomatoes, 900)
    db.session.commit()
    assert current_version() == version  # a harvest does not move the data version
    after = shown(client)
    assert after != before
    shown(client, NEXT_TUESDAY)
    assert live_splits.computed == splits + 1  # only the first round split again
    assert live_split_inputs.computed == inputs  # from the inputs kept
    clear_caches()
    assert shown(client) == after  # the same as a cold start
