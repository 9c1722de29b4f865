"""The money base: amounts as typed, exact splits, bank identifiers, the farm's billing
profile page and the reference prices that follow from a season's budget."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from csa.core.banking import (
    BankingError,
    clean_bic,
    clean_creditor_id,
    clean_iban,
    find_reference,
    format_iban,
    payment_reference,
)
from csa.core.money import MAX_CENTS, AmountError, cents_to_str, parse_cents, split_cents
from csa.models import FarmProfile, Role
from csa.money.prices import reference_prices, season_prices
from csa.money.profile import farm_profile
from tests.factories import add_member, make_farm


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("650", 65000),
        ("650,00", 65000),
        ("650.5", 65050),
        ("1 200,50", 120050),
        ("1\u00a0200,50", 120050),
        ("1.200,50", 120050),
        ("1,200.50", 120050),
        ("0,01", 1),
        (" 12,5 ", 1250),
    ],
)
def test_amounts_are_read_with_a_comma_or_a_point(typed, cents):
    assert parse_cents(typed) == cents


@pytest.mark.parametrize(
    "typed", ["", "-5", "abc", "12,345", "1.200", "1,2,3", "1.200.5", "1e5", "5,001", "99999999999"]
)
def test_signs_ambiguous_groups_and_absurd_amounts_are_refused(typed):
    with pytest.raises(AmountError):
        parse_cents(typed)


def test_an_amount_above_the_bound_is_refused():
    assert parse_cents(cents_to_str(MAX_CENTS)) == MAX_CENTS
    with pytest.raises(AmountError):
        parse_cents(cents_to_str(MAX_CENTS + 1))


@given(st.integers(min_value=0, max_value=MAX_CENTS))
def test_cents_print_and_read_back(cents):
    assert parse_cents(cents_to_str(cents)) == cents


@given(
    st.integers(min_value=0, max_value=10**9),
    st.dictionaries(st.integers(1, 10**6), st.integers(1, 10**4), min_size=1, max_size=40),
)
def test_a_split_adds_up_exactly_and_is_fair_to_the_cent(total, weights):
    parts = split_cents(total, weights)
    assert sum(parts.values()) == total
    whole = sum(weights.values())
    for key, weight in weights.items():
        exact = Fraction(total * weight, whole)
        assert exact - 1 < parts[key] < exact + 1


@given(st.dictionaries(st.integers(1, 1000), st.integers(1, 50), min_size=1, max_size=20))
def test_a_split_does_not_depend_on_the_order_of_its_input(weights):
    reverse = dict(reversed(list(weights.items())))
    assert split_cents(9999, weights) == split_cents(9999, reverse)


def test_iban_bic_and_creditor_id_are_checked():
    assert clean_iban("de89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert format_iban("DE89370400440532013000") == "DE89 3704 0044 0532 0130 00"
    with pytest.raises(BankingError):
        clean_iban("DE89 3704 0044 0532 0130 01")  # one digit off: the checksum fails
    assert clean_bic("cobadeffxxx") == "COBADEFFXXX"
    with pytest.raises(BankingError):
        clean_bic("COBA")
    assert clean_creditor_id("de98zzz09999999999") == "DE98ZZZ09999999999"
    with pytest.raises(BankingError):
        clean_creditor_id("DE99ZZZ09999999999")


def test_payment_references_are_iso_11649_and_found_in_free_text():
    reference = payment_reference("2027-00042")
    assert reference.startswith("RF")
    assert reference.endswith("202700042")
    spaced = " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))
    assert find_reference(f"Vegetables {spaced.lower()} thank you") == reference
    assert find_reference("no reference here, RF00 1234") is None


def test_the_reference_prices_add_up_to_the_budget(db):
    farm = make_farm()
    rows = [add_member(farm, share_type=t) for t in (farm.full, farm.half, farm.family)]
    rows.append(add_member(farm, share_type=farm.half, shares=2))
    farm.season.budget_cents = 1_000_001
    db.session.flush()
    prices = reference_prices(farm.season)
    assert sum(prices.values()) == 1_000_001
    # Weights 1000, 500, 1500 and 2 × 500: the full share pays a quarter of the budget.
    assert prices[rows[0].id] in (250_000, 250_001)
    assert abs(prices[rows[1].id] * 2 - prices[rows[0].id]) <= 2
    rows[1].price_cents = 40_000  # fixed by a bidding round
    assert season_prices(farm.season)[rows[1].id] == 40_000
    farm.season.budget_cents = None  # no budget: the listed prices
    assert reference_prices(farm.season)[rows[3].id] == 2 * farm.half.price_cents


def test_coordinators_keep_the_billing_profile(client, auth, make_user, db):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    page = client.get("/money/settings")
    assert page.status_code == 200
    form = {
        "legal_name": "Green Acre <Farm> sp. z o.o.",
        "address": "Polna 1\n00-001 Wieś",
        "tax_id": "PL1234567890",
        "iban": "de89 3704 0044 0532 0130 00",
        "bic": "COBADEFFXXX",
        "creditor_id": "DE98ZZZ09999999999",
        "currency": "PLN",
        "pledge_floor_percent": "55",
        "latecomer_pro_rata": "y",
        "plan_monthly": "y",
        "invoice_days_before_due": "10",
        "reminder_first_days": "7",
        "reminder_second_days": "21",
    }
    saved = client.post("/money/settings", data=form)
    assert saved.status_code == 302
    profile = farm_profile()
    db.session.refresh(profile)
    assert (profile.iban, profile.currency, profile.pledge_floor_permille) == (
        "DE89370400440532013000",
        "PLN",
        550,
    )
    assert profile.plans_allowed == "monthly"
    shown = client.get("/money/settings").get_data(as_text=True)
    assert "Green Acre &lt;Farm&gt;" in shown


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("iban", "DE89 3704 0044 0532 0130 01", "This IBAN is not valid"),
        ("bic", "XX", "This BIC is not valid"),
        ("creditor_id", "DE99ZZZ09999999999", "This creditor identifier is not valid"),
        ("reminder_second_days", "5", "The second reminder comes after the friendly one."),
        ("plan_single", None, "Allow at least one way to pay."),
        ("pledge_floor_percent", "140", "Number must be between 0 and 100."),
    ],
)
def test_a_bad_billing_profile_gets_a_message_and_writes_nothing(
    client, auth, make_user, db, field, value, message
):
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    before = farm_profile()
    db.session.commit()
    form = {
        "legal_name": "Farm",
        "iban": "",
        "currency": "EUR",
        "pledge_floor_percent": "60",
        "plan_single": "y",
        "invoice_days_before_due": "14",
        "reminder_first_days": "10",
        "reminder_second_days": "30",
    }
    if value is None:
        form.pop(field)
    else:
        form[field] = value
    answer = client.post("/money/settings", data=form)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    db.session.expire_all()
    after = db.session.get(FarmProfile, 1)
    assert (after.legal_name, after.plans_allowed) == (before.legal_name, before.plans_allowed)
    assert db.session.scalar(select(func.count()).select_from(FarmProfile)) == 1


def test_the_overview_shows_a_seasons_budget_and_prices(client, auth, make_user, db):
    farm = make_farm()
    add_member(farm)
    add_member(farm, share_type=farm.half)
    farm.season.budget_cents = 300_000
    farm_profile().currency = "PLN"
    db.session.commit()
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    html = client.get(f"/money/?season={farm.season.id}").get_data(as_text=True)
    assert "3,000.00" in html
    assert "PLN" in html
    assert "Season prices of 2 memberships" in html


def test_members_and_farmers_do_not_open_the_desk(client, auth, make_user):
    for role in (Role.MEMBER, Role.FARMER):
        user = make_user(role)
        auth.login(user.email)
        assert client.get("/money/").status_code == 403
        assert client.get("/money/settings").status_code == 403
        auth.logout()


def _invoice(member, number: str, total: int):
    from datetime import date

    from csa.models import Invoice

    year, seq = number.split("-")
    return Invoice(
        year=int(year),
        seq=int(seq),
        number=number,
        member=member,
        issued_on=date(2027, 4, 20),
        due_on=date(2027, 5, 1),
        total_cents=total,
        currency="EUR",
        reference=payment_reference(number),
        buyer_name=member.name,
    )


def test_the_households_download_holds_its_invoices_and_payments_only(db):
    import io
    import json
    import zipfile
    from datetime import date

    from csa.models import Payment, PaymentAllocation
    from csa.privacy.export import household_zip

    farm = make_farm()
    alice, bob = add_member(farm, name="Alice A"), add_member(farm, name="Bob B")
    mine, theirs = _invoice(alice.member, "2027-1", 12_345), _invoice(bob.member, "2027-2", 999)
    paid = Payment(
        booked_on=date(2027, 5, 2), amount_cents=10_000, currency="EUR", member=alice.member
    )
    db.session.add_all([mine, theirs, paid])
    db.session.flush()
    db.session.add(PaymentAllocation(payment=paid, invoice=mine, amount_cents=10_000))
    db.session.flush()
    with zipfile.ZipFile(io.BytesIO(household_zip(alice.member))) as archive:
        data = json.loads(archive.read("household.json"))["data"]
    assert [(i["number"], i["amount"]) for i in data["invoices"]] == [("2027-1", "123.45")]
    assert [(p["amount"], p["settled"]) for p in data["payments"]] == [("100.00", "2027-1: 100.00")]
