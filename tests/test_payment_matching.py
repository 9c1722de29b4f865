"""Matching statement lines to households and spreading payments over invoices
(csa/payments/matching.py): pure, no app."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from csa.core.banking import payment_reference
from csa.payments.matching import (
    Match,
    MatchedBy,
    Matcher,
    OpenInvoice,
    allocate,
    name_key,
    same_name,
)


def invoice(id_: int, member: int, household: str, open_cents: int, due: date) -> OpenInvoice:
    number = f"2027-{id_:04d}"
    return OpenInvoice(id_, number, payment_reference(number), member, household, due, open_cents)


INVOICES = [
    invoice(1, 10, "Jan Kowalski", 65000, date(2027, 5, 1)),
    invoice(2, 10, "Jan Kowalski", 65000, date(2027, 6, 1)),
    invoice(3, 20, "Żaneta Łukasiewicz", 10000, date(2027, 5, 1)),
    invoice(4, 30, "Ewa Nowak", 10000, date(2027, 5, 1)),
    invoice(5, 40, "Piotr Paid", 0, date(2027, 4, 1)),
]


def test_reference_first_even_if_name_and_amount_point_elsewhere():
    matcher = Matcher(INVOICES)
    ref = payment_reference("2027-0004")
    assert matcher.match(10000, "Żaneta Łukasiewicz", f"thanks {ref}") == Match(
        30, MatchedBy.REFERENCE, 4
    )


def test_reference_with_blanks_and_invoice_number_in_free_text():
    matcher = Matcher(INVOICES)
    ref = payment_reference("2027-0002")
    spaced = " ".join(ref[i : i + 4] for i in range(0, len(ref), 4))
    assert matcher.match(1, "", f"share {spaced}") == Match(10, MatchedBy.REFERENCE, 2)
    assert matcher.match(1, "", "Rechnung 2027-0003, danke") == Match(20, MatchedBy.REFERENCE, 3)
    # A paid invoice's reference still names its household.
    assert matcher.match(5, "", payment_reference("2027-0005")) == Match(40, MatchedBy.REFERENCE, 5)


def test_name_and_amount_when_no_reference():
    matcher = Matcher(INVOICES)
    assert matcher.match(10000, "LUKASIEWICZ ZANETA", "May") == Match(20, MatchedBy.NAME_AMOUNT)
    assert matcher.match(65000, "kowalski, jan", "") == Match(10, MatchedBy.NAME_AMOUNT)


def test_unmatched_when_amount_or_name_differ():
    matcher = Matcher(INVOICES)
    assert matcher.match(10001, "Ewa Nowak", "") is None  # amount differs
    assert matcher.match(10000, "Eva Nowak", "") is None  # name differs
    assert matcher.match(0, "Piotr Paid", "") is None  # a paid invoice asks nothing
    assert matcher.match(10000, "", "") is None


def test_two_households_with_the_same_name_and_amount_stay_unmatched():
    twins = [*INVOICES, invoice(6, 50, "Ewa Nowak", 10000, date(2027, 5, 1))]
    assert Matcher(twins).match(10000, "Ewa Nowak", "") is None


def test_settled_amounts_are_not_claimed_twice():
    matcher = Matcher(INVOICES)
    parts = allocate(10000, matcher.open_of(30))
    matcher.settle(parts)
    assert matcher.match(10000, "Ewa Nowak", "") is None


def test_open_of_puts_the_named_invoice_first_then_oldest_due():
    matcher = Matcher(INVOICES)
    assert [i for i, _ in matcher.open_of(10)] == [1, 2]
    assert [i for i, _ in matcher.open_of(10, first=2)] == [2, 1]
    assert matcher.open_of(40) == []


def test_names_fold_case_accents_and_order():
    assert name_key("Żaneta  Łukasiewicz") == name_key("lukasiewicz, ZANETA")
    assert same_name("Müller-Lüdenscheidt Hans", "hans muller ludenscheidt")
    assert not same_name("", "")
    assert not same_name("Jan", "Jan Kowalski")


def test_allocate_partial_and_credit():
    assert allocate(70000, [(1, 65000), (2, 65000)]) == [(1, 65000), (2, 5000)]
    assert allocate(100, [(1, 65000)]) == [(1, 100)]
    assert allocate(100, []) == []


@given(
    st.integers(1, 10**7),
    st.lists(
        st.tuples(st.integers(1, 10**6), st.integers(0, 10**6)),
        max_size=8,
        unique_by=lambda t: t[0],
    ),
)
def test_allocate_never_over_pays_and_fills_in_order(amount, opens):
    parts = allocate(amount, opens)
    total = sum(c for _, c in parts)
    assert total == min(amount, sum(o for _, o in opens))
    asked = dict(opens)
    assert all(0 < c <= asked[i] for i, c in parts)
    # Each invoice before the last one touched is paid in full.
    touched = [i for i, _ in parts]
    order = [i for i, o in opens if o > 0]
    assert touched == order[: len(touched)]
    for i, c in parts[:-1]:
        assert c == asked[i]


@given(st.text(max_size=40), st.randoms())
def test_name_key_ignores_word_order(name, rnd):
    words = name.split()
    rnd.shuffle(words)
    assert name_key(" ".join(words)) == name_key(name)
