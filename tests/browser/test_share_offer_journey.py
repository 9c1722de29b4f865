"""Offered shares in a browser: a member who cannot come offers its share to its site, the
demo member of the same site accepts it on a phone, and both see it: on My share and in
the Notes of their rows on the pickup list."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from csa.accounts import operations as accounts
from csa.core.clock import utcnow
from csa.core.offers import OfferState
from csa.demo import DEMO_PASSWORD
from csa.extensions import db
from csa.models import MembershipStatus, Role, ShareOffer, Swap, User
from csa.offers import operations as ops
from csa.sheets.build import round_sheet_data
from tests.browser.helpers import check_accessibility, fits_the_screen
from tools.browser import sign_in

pytestmark = pytest.mark.browser


def test_a_member_offers_its_share_and_another_accepts_it(live_app, open_page):
    with live_app.app_context():
        demo = db.session.scalar(select(User).where(User.email == "member@demo.farm"))
        demo.locale = "en"
        mine = demo.member.memberships[0]
        round_, site = ops.board_rounds(mine, utcnow())[0]
        posted = (
            {o.membership_id for o in db.session.scalars(select(ShareOffer))}
            | {s.membership_id for s in db.session.scalars(select(Swap))}
            | {s.accepted_by_id for s in db.session.scalars(select(Swap))}
        )
        neighbour = next(
            m
            for m in db.session.scalars(select(type(mine)).where(type(mine).site_id == site.id))
            if m.id != mine.id
            and m.status == MembershipStatus.ACTIVE
            and m.id not in posted
            and ops.crops_received(round_, m)
        )
        accounts.create_user(
            "site-neighbour@demo.farm",
            Role.MEMBER,
            password=DEMO_PASSWORD,
            name="Neighbour",
            member=neighbour.member,
        )
        away_login = db.session.scalar(select(User).where(User.email == "site-neighbour@demo.farm"))
        away_login.locale = "en"
        neighbour_name, demo_name, site_name = neighbour.member.name, demo.member.name, site.name
        round_id, neighbour_id, mine_id, site_id = round_.id, neighbour.id, mine.id, site.id
        db.session.commit()

    away = open_page()
    sign_in(away, "site-neighbour@demo.farm")
    away.goto("/share/")
    away.get_by_role("link", name="Community").click()
    away.get_by_role("link", name="Offers and swaps").first.click()
    expect(away.get_by_role("heading", level=2).first).to_contain_text(site_name)
    check_accessibility(away, "offers and swaps board")
    first = away.locator("section.card").first
    first.get_by_label("The members of my site (the first to accept collects it)").check()
    first.get_by_role("button", name="Offer my share").click()
    expect(away.locator(".flash-success")).to_contain_text(
        "Your share is offered to the members of your site."
    )

    phone = open_page(phone=True)
    sign_in(phone, "member@demo.farm")
    phone.goto("/offers/")
    assert fits_the_screen(phone)
    card = phone.locator("section.card").first
    expect(card).to_contain_text("A member of your site offers its share.")
    expect(card).not_to_contain_text(neighbour_name)  # open posts name nobody
    card.get_by_role("button", name="I collect it").last.click()
    expect(phone.locator(".flash-success")).to_contain_text("The share is yours to collect")
    phone.goto("/share/")
    expect(phone.locator("main")).to_contain_text(
        f"You also collect the share of {neighbour_name}."
    )

    away.goto("/share/")
    expect(away.locator("main")).to_contain_text(f"{demo_name} collects your share.")

    with live_app.app_context():
        offer = db.session.scalars(
            select(ShareOffer).where(ShareOffer.membership_id == neighbour_id)
        ).one()
        assert (offer.state, offer.accepted_by_id) == (OfferState.ACCEPTED, mine_id)
        from csa.models import Round

        sheet = round_sheet_data(db.session.get(Round, round_id)).site(site_id)
        notes = {r.membership_id: r.notes for r in sheet.rows}
        assert f"Collected by {demo_name}" in notes[neighbour_id]
        assert f"Also collects the share of {neighbour_name}" in notes[mine_id]
