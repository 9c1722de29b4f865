"""A member funds the next season and pays its first instalment: from My share one tap to
Pledge, a range pledged, the round settled, then My share → Money shows the invoice with
its QR code to scan (an EPC code the page draws as SVG); the pages pass axe-core, on a
phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.bidding.operations import open_round, settle
from csa.core.clock import utcnow
from csa.extensions import db
from csa.invoices.operations import issue_due_invoices
from csa.models import (
    BiddingMode,
    BiddingRound,
    Invoice,
    Membership,
    MembershipStatus,
    PaymentPlan,
    Pledge,
    Season,
    User,
)
from csa.rounds.lifecycle import farm_today
from tests.browser.helpers import check_accessibility, fits_the_screen
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_a_member_pledges_a_range_and_sees_the_invoice_with_its_qr_code(live_app, open_page):
    with live_app.app_context():
        today = farm_today()
        user = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        user.locale = "en"  # the journey reads English text
        current = db.session.scalar(
            select(Membership).where(Membership.member_id == user.member_id)
        )
        upcoming = db.session.scalar(
            select(Season).where(Season.start > current.season.end).order_by(Season.start)
        )
        mine = db.session.scalar(
            select(Membership).where(
                Membership.member_id == user.member_id, Membership.season_id == upcoming.id
            )
        )
        if mine is None:  # the demo's renewal is still unanswered: the household renews
            mine = Membership(
                member_id=user.member_id,
                season=upcoming,
                share_type=current.share_type,
                shares=1,
                site=current.site,
                start=upcoming.start,
                end=upcoming.end,
                status=MembershipStatus.ACTIVE,
            )
            db.session.add(mine)
        mine.payment_plan = PaymentPlan.SINGLE
        upcoming.budget_cents = 500_000  # about 1,000.00 a share
        db.session.flush()
        round_ = open_round(upcoming, BiddingMode.RANGE, today + timedelta(days=14), None, today)
        db.session.commit()
        round_id, membership_id, season_name = round_.id, mine.id, upcoming.name

    page = open_page(phone=True)
    sign_in(page, "member@demo.farm")
    page.goto("/share/")
    sections = page.get_by_role("navigation", name="Sections of my share")
    sections.get_by_role("link", name="Pledge").click()
    expect(page).to_have_url(re.compile(r"/bidding/mine$"))
    expect(page.get_by_role("heading", name=re.compile(season_name))).to_be_visible()
    page.get_by_label("The least I can pay").fill("700,00")
    page.get_by_label("The most I can pay").fill("1 500,00")
    # Below the floor (60 % of the reference) the page asks why; staff alone read it.
    page.get_by_text("Tell us briefly why").click()
    page.get_by_label("Why less? (only the farm's staff read it)").fill("A tight year")
    page.get_by_role("button", name="Save my pledge").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator(f"#my-pledge-{round_id}")).to_contain_text("700.00")
    expect(page.locator(f"#my-pledge-{round_id}")).to_contain_text("1,500.00")
    check_accessibility(page, "pledge")
    assert fits_the_screen(page)

    with live_app.app_context():
        pledge = db.session.scalar(
            select(Pledge).where(
                Pledge.bidding_round_id == round_id, Pledge.membership_id == membership_id
            )
        )
        assert (pledge.min_cents, pledge.max_cents) == (70_000, 150_000)
        settle(db.session.get(BiddingRound, round_id), None, utcnow(), accept_shortfall=True)
        db.session.commit()
        mine = db.session.get(Membership, membership_id)
        price = mine.price_cents
        assert 70_000 <= price <= 150_000
        issue_due_invoices(today, mine.season.end)
        invoice = db.session.scalar(select(Invoice).where(Invoice.membership_id == membership_id))
        assert invoice is not None
        assert invoice.total_cents == price
        number = invoice.number

    page.goto("/bidding/mine")
    expect(page.locator(f"#season-price-{round_id}")).to_contain_text("Your season price is")
    page.get_by_role("navigation", name="Sections of my share").get_by_role(
        "link", name="Money"
    ).click()
    expect(page).to_have_url(re.compile(r"/invoices/mine$"))
    payment = page.locator("section.pay", has_text=number)
    expect(payment).to_be_visible()
    expect(payment.locator("figure.qr svg")).to_be_visible()
    expect(payment).to_contain_text("RF")
    check_accessibility(page, "money")
    assert fits_the_screen(page)
