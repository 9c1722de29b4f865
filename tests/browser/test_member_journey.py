"""The member's journey on a phone: this week's share as the split computes it, where and
when to collect it, a hold on next week's round, an opt-out, away for a range of days, and
the season so far."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import format_date
from playwright.sync_api import expect
from sqlalchemy import select

from csa.extensions import db
from csa.models import Crop, Hold, HoldLog, HoldMode, OptOut, Round, RoundStatus, User
from csa.rounds.lifecycle import farm_today
from csa.rounds.split import compute_split, round_split
from csa.share.queries import current_membership, season_to_date
from csa.ui.formatting import format_clock, format_quantity, weekday_name
from tests.browser.helpers import check_accessibility, fits_the_screen, save_screenshot
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def _expected(app):
    """What the page must show, worked out from the database and the split, not the page.

    The demo puts random members on hold; this household is made to collect this week.
    """
    with app.test_request_context():  # English, like the demo member's account
        user = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        user.locale = "en"  # the journey reads English text, whatever the demo household speaks
        today = farm_today()
        membership = current_membership(user.member, today)
        site = membership.site
        rounds = [
            r
            for r in db.session.scalars(
                select(Round)
                .where(Round.date >= today, Round.status != RoundStatus.CANCELLED)
                .order_by(Round.date)
            )
            if site.serves(r.schedule_date) and r.date <= membership.end
        ]
        this_round, next_round = rounds[0], rounds[1]
        for hold in db.session.scalars(
            select(Hold).where(
                Hold.membership_id == membership.id, Hold.round_date == this_round.date
            )
        ):
            db.session.delete(hold)
        db.session.commit()
        holds = {
            (h.round_date, h.mode)
            for h in db.session.scalars(select(Hold).where(Hold.membership_id == membership.id))
        }
        split = compute_split(this_round) if this_round.accepts_harvest else None
        split = split or round_split(this_round)
        contents = [
            (split.crops[s.crop_id].name, format_quantity(s.quantity, split.crops[s.crop_id].unit))
            for s in split.shares_of(membership.id)
            if s.quantity > 0
        ]
        season = [
            (
                row.crop.name,
                format_quantity(row.received, row.crop.unit),
                format_quantity(row.fair_shown, row.crop.unit),
            )
            for row in season_to_date(membership)
        ]
        return {
            "membership_id": membership.id,
            "holds": holds,
            "this_date": format_date(this_round.date, "full"),
            "next_date": next_round.date,
            "next_medium": format_date(next_round.date, "medium"),
            "next_full": format_date(next_round.date, "full"),
            "site": site.name,
            "address": site.address,
            "when": f"{weekday_name(this_round.date.weekday())}, "
            f"{format_clock(site.opens)}–{format_clock(site.closes)}",
            "contents": contents,
            "season": season,
        }


def test_member_sees_the_share_holds_a_round_and_opts_out(live_app, open_page):
    want = _expected(live_app)
    assert want["contents"], "the demo's current round has harvest for the member"
    page = open_page(phone=True)
    sign_in(page, "member@demo.farm")

    expect(page).to_have_url(re.compile(r"/share/$"))
    expect(page.get_by_role("heading", name="My share")).to_be_visible()
    check_accessibility(page, "my share")
    assert fits_the_screen(page)

    # This round: the quantities of the split, the site, the day and the opening hours.
    this_round = page.locator("section[aria-labelledby=this-round]")
    expect(this_round.get_by_role("heading")).to_have_text(f"This round: {want['this_date']}")
    items = this_round.locator("ul.contents > li")
    expect(items).to_have_count(len(want["contents"]))
    for index, (crop, quantity) in enumerate(want["contents"]):
        expect(items.nth(index)).to_have_text(f"{crop} {quantity}")
    expect(this_round).to_contain_text(f"{want['site']}, {want['address']}")
    expect(this_round).to_contain_text(want["when"])

    # Away next week: donate the share.
    upcoming = page.locator("ul.rounds > li.card", has_text=want["next_medium"]).first
    upcoming.get_by_text("Away? Put this round on hold").click()
    donate = upcoming.get_by_label("Donate my share")
    expect(donate).to_be_checked()  # the default: nothing is lost by accident
    upcoming.get_by_role("button", name="Put on hold").click()
    expect(page.locator(".flash-success")).to_have_text(
        f"On hold on {want['next_full']}: your share is donated."
    )
    expect(page.locator("ul.rounds > li.card", has_text=want["next_medium"]).first).to_contain_text(
        "on hold, donated"
    )

    # Never any kale, in the settings (one tap): the earlier opt-out (radishes) stays.
    sections = page.get_by_role("navigation", name="Sections of my share")
    sections.get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/share/settings$"))
    expect(page.locator("section[aria-labelledby=this-round]")).to_have_count(0)
    opt_outs = page.locator("#opt-outs")
    expect(opt_outs.get_by_label("Radishes", exact=True)).to_be_checked()
    opt_outs.get_by_label("Kale", exact=True).check()
    opt_outs.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-success")).to_have_text(
        "Saved: the crops you never want go to the others."
    )
    expect(page.locator("#opt-outs").get_by_label("Kale", exact=True)).to_be_checked()

    with live_app.app_context():
        holds = db.session.scalars(
            select(Hold).where(Hold.membership_id == want["membership_id"])
        ).all()
        assert {(h.round_date, h.mode) for h in holds} == want["holds"] | {
            (want["next_date"], HoldMode.DONATE)
        }
        opted = db.session.scalars(
            select(Crop.name)
            .join(OptOut, OptOut.crop_id == Crop.id)
            .where(OptOut.membership_id == want["membership_id"])
        ).all()
        assert sorted(opted) == ["Kale", "Radishes"]

    # Away for three weeks after next week, in one step: every open round of those days is
    # given to the others, each listed with its hold deadline.
    first = want["next_date"] + timedelta(days=1)
    last = first + timedelta(days=20)
    sections.get_by_role("link", name="This week").click()
    away = page.locator("#away")
    away.get_by_label("First day away").fill(first.isoformat())
    away.get_by_label("Last day away").fill(last.isoformat())
    away.get_by_label("Give it to the other members").check()
    away.get_by_role("button", name="Put these rounds on hold").click()
    result = page.locator("#range-result")
    with live_app.test_request_context():
        heading = f"On hold from {format_date(first, 'medium')} to {format_date(last, 'medium')}"
    expect(result.get_by_role("heading")).to_have_text(heading)
    expect(result).to_contain_text("on hold, given to the others")
    expect(result).to_contain_text("Hold or cancel a hold until")
    check_accessibility(page, "my share after a range hold")
    with live_app.app_context():
        away_holds = db.session.scalars(
            select(Hold).where(
                Hold.membership_id == want["membership_id"],
                Hold.round_date >= first,
                Hold.round_date <= last,
            )
        ).all()
        assert away_holds
        assert {h.mode for h in away_holds} == {HoldMode.OTHERS}
        logged = db.session.scalars(
            select(HoldLog.round_date).where(
                HoldLog.membership_id == want["membership_id"], HoldLog.mode == HoldMode.OTHERS
            )
        ).all()
        assert {h.round_date for h in away_holds} <= set(logged)

    # The season so far, one more tap: a chart and, for every crop, received against the
    # fair share.
    sections.get_by_role("link", name="The season").click()
    expect(page).to_have_url(re.compile(r"/share/season$"))
    check_accessibility(page, "my season")
    season = page.locator("section[aria-labelledby=season]")
    chart = season.get_by_role("img", name="Your season so far")
    expect(chart).to_be_visible()
    assert want["season"]
    for crop, received, fair in want["season"]:
        expect(season.locator("ul.lines")).to_contain_text(
            f"You received {received} of {crop}, your fair share was {fair}."
        )
        expect(chart).to_contain_text(f"{received} of {fair}")
    check_accessibility(page, "my share after changes")
    page.evaluate("document.getElementById('season').scrollIntoView()")
    save_screenshot(page, "journey-member")
