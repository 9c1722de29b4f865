"""Bank statements read into lines (csa/payments/statements.py): pure, no app."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csa.payments import statements
from csa.payments.statements import CsvLayout, StatementError, csv_amount, parse_camt, parse_csv

DATA = Path(__file__).parent / "data"


def camt(name: str, **values: str) -> bytes:
    text = (DATA / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.encode("utf-8")


def test_camt053_v02_credits_only_with_several_transactions_in_one_entry():
    result = parse_camt(camt("camt053_v02.xml", REF1="RF18539007547034"))
    assert [(x.amount_cents, x.payer, x.text, x.key) for x in result.lines] == [
        (65000, "JAN KOWALSKI", "RF18539007547034", "camt:BANK-0001/1"),
        (10000, "Żaneta Łukasiewicz", "share May, thank you", "camt:BANK-0002-A"),
        (3000, "Unknown Stranger", "donation", "camt:BANK-0002-B"),
    ]
    assert {x.currency for x in result.lines} == {"EUR"}
    assert result.lines[0].booked_on == date(2027, 5, 3)
    assert [(s.position, s.reason) for s in result.skipped] == [(4, "debit")]


def test_camt053_v08_party_name_datetime_currency_and_pending():
    result = parse_camt(camt("camt053_v08.xml", NUMBER2="2027-0002"))
    first, chf = result.lines
    assert (first.payer, first.text, first.key) == (
        "Ewa Nowak",
        "Invoice 2027-0002",
        "camt:TX-8001",
    )
    assert first.booked_on == date(2027, 6, 2)
    assert (chf.currency, chf.amount_cents) == ("CHF", 2000)
    assert [s.reason for s in result.skipped] == ["pending"]


def test_camt054_notification_without_bank_references_gets_a_stable_hash_key():
    one = parse_camt(camt("camt054_v04.xml"))
    two = parse_camt(camt("camt054_v04.xml"))
    assert len(one.lines) == 1
    assert one.lines[0].key.startswith("camt:h:")
    assert one.lines[0].key == two.lines[0].key
    assert one.lines[0].amount_cents == 20000


def test_identical_lines_without_references_are_two_payments():
    body = camt("camt054_v04.xml").decode()
    start, end = body.index("<Ntry>"), body.index("</Ntry>") + len("</Ntry>")
    doubled = body[:end] + body[start:end] + body[end:]
    lines = parse_camt(doubled.encode()).lines
    assert len(lines) == 2
    assert lines[0].key != lines[1].key


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<Document><Stmt><Ntry>",
        b"not xml at all",
        b"<?xml version='1.0'?><root/>",
        b"<Document><Stmt><Ntry><Amt Ccy='EUR'>1.00</Amt></Ntry></Stmt>",
    ],
)
def test_malformed_or_foreign_xml_is_refused_whole(data):
    with pytest.raises(StatementError):
        parse_camt(data)


def test_an_external_entity_is_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    data = f"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>
<Document><BkToCstmrStmt><Stmt><Acct><Ccy>EUR</Ccy></Acct><Ntry>
<Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2027-05-03</Dt></BookgDt>
<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>&xxe;</Nm></Dbtr></RltdPties></TxDtls></NtryDtls>
</Ntry></Stmt></BkToCstmrStmt></Document>""".encode()
    with pytest.raises(StatementError, match="doctype"):
        parse_camt(data)


def test_billion_laughs_is_refused():
    data = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document><Stmt><Ntry><Amt>&lol3;</Amt></Ntry></Stmt></Document>"""
    with pytest.raises(StatementError):
        parse_camt(data)


def test_a_huge_file_is_refused_before_parsing():
    with pytest.raises(StatementError, match="too large"):
        parse_camt(b" " * (statements.MAX_BYTES + 1))
    layout = CsvLayout(date=1, amount=2, payer=3, reference=4)
    with pytest.raises(StatementError, match="too large"):
        parse_csv(b"x" * (statements.MAX_BYTES + 1), layout, "EUR")


def test_too_many_transactions_are_refused(monkeypatch):
    monkeypatch.setattr(statements, "MAX_LINES", 2)
    with pytest.raises(StatementError, match="too many"):
        parse_camt(camt("camt053_v02.xml", REF1="x"))


def test_absurd_amounts_are_skipped_not_guessed():
    body = camt("camt054_v04.xml").decode().replace("200.00", "99999999999999.00")
    result = parse_camt(body.encode())
    assert result.lines == []
    assert [s.reason for s in result.skipped] == ["unreadable"]
    zero = camt("camt054_v04.xml").decode().replace("200.00", "0.00")
    assert [s.reason for s in parse_camt(zero.encode()).skipped] == ["zero"]


# --- CSV -----------------------------------------------------------------------------------

BANK_CSV = (
    "Buchungstag;Betrag;Währung;Auftraggeber;Verwendungszweck\n"
    "03.05.2027;650,00;EUR;Jan Kowalski;RF18 5390 0754 7034\n"
    "04.05.2027;-45,10;EUR;Stadtwerke;Strom\n"
    "05.05.2027;1.200,50;EUR;Ewa Nowak;2027-0002\n"
    ";;;;\n"
    "06.05.2027;10,00;EUR;Ewa Nowak;gift\n"
    "06.05.2027;10,00;EUR;Ewa Nowak;gift\n"
    "bad date;10,00;EUR;X;Y\n"
)
LAYOUT = CsvLayout(date=1, amount=2, currency=3, payer=4, reference=5)


def test_csv_with_a_mapping():
    result = parse_csv(BANK_CSV.encode("cp1252"), LAYOUT, "EUR")
    assert [(x.booked_on, x.amount_cents, x.payer) for x in result.lines] == [
        (date(2027, 5, 3), 65000, "Jan Kowalski"),
        (date(2027, 5, 5), 120050, "Ewa Nowak"),
        (date(2027, 5, 6), 1000, "Ewa Nowak"),
        (date(2027, 5, 6), 1000, "Ewa Nowak"),
    ]
    assert len({x.key for x in result.lines}) == 4  # two equal gifts are two payments
    assert [(s.position, s.reason) for s in result.skipped] == [(2, "debit"), (7, "unreadable")]
    # The same rows in UTF-8 with a BOM give the same keys.
    again = parse_csv(("\ufeff" + BANK_CSV).encode("utf-8"), LAYOUT, "EUR")
    assert [x.key for x in again.lines] == [x.key for x in result.lines]


def test_csv_without_currency_column_uses_the_farms_and_a_decimal_point():
    text = '2027-05-03,"1,234.50",Jan Kowalski,hello\n'
    layout = CsvLayout(
        date=1,
        amount=2,
        payer=3,
        reference=4,
        date_format="%Y-%m-%d",
        decimal_comma=False,
        delimiter=",",
        header_rows=0,
    )
    (line,) = parse_csv(text.encode(), layout, "PLN").lines
    assert (line.amount_cents, line.currency) == (123450, "PLN")


@pytest.mark.parametrize(
    ("text", "comma", "cents"),
    [
        ("650,00", True, 65000),
        ("-1.234,5", True, -123450),
        ("12,50-", True, -1250),
        ("1,234.56", False, 123456),
        ("+7", False, 700),
        ("1 200,00", True, 120000),
    ],
)
def test_csv_amounts(text, comma, cents):
    assert csv_amount(text, decimal_comma=comma) == cents


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_fail_cleanly(data):
    for parse in (lambda d: parse_camt(d), lambda d: parse_csv(d, LAYOUT, "EUR")):
        try:
            result = parse(data)
        except StatementError:
            continue
        assert all(x.amount_cents > 0 for x in result.lines)


@given(
    st.lists(
        st.tuples(st.integers(1, 28), st.integers(-(10**6), 10**6), st.sampled_from(["A", "B b"])),
        max_size=12,
    )
)
def test_csv_keys_are_stable_and_unique(rows):
    text = "".join(f"{d:02d}.05.2027;{c // 100},{abs(c) % 100:02d};EUR;{p};x\n" for d, c, p in rows)
    layout = CsvLayout(date=1, amount=2, currency=3, payer=4, reference=5, header_rows=0)
    one = parse_csv(text.encode(), layout, "EUR")
    two = parse_csv(text.encode(), layout, "EUR")
    assert [x.key for x in one.lines] == [x.key for x in two.lines]
    assert len({x.key for x in one.lines}) == len(one.lines)
