"""Bank statements read into plain lines: camt.053 / camt.054 XML and CSV with a saved column
mapping. Pure: no Flask, no database; the operations decide what to store.

Every credit becomes a `StatementLine` with a stable `key`: the bank's own reference
(AcctSvcrRef, TxId, NtryRef) when it gives one, else a hash of the line's fields and its
position among identical lines, so that the same file, or an overlapping later one, gives
the same keys again (csa/payments/operations.py stores it as Payment.import_key).
Debits, reversals, pending entries and amounts of zero are `Skipped` with a reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree  # type: ignore[import-untyped]

from csa.core.money import MAX_CENTS, AmountError, parse_cents

MAX_BYTES = 5 * 1024 * 1024  # a year of a farm's account is far below this
MAX_LINES = 10_000  # transactions (or CSV rows) in one file
KEY_MAX = 120  # Payment.import_key's length
TEXT_MAX = 300  # Payment.reference's length
NAME_MAX = 200  # Payment.payer_name's length
# The date formats a farm may choose for its bank's CSV (CsvMapping.date_format).
DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y%m%d")


class StatementError(ValueError):
    """A file that cannot be read as a statement at all: nothing of it is imported."""


@dataclass(frozen=True)
class StatementLine:
    """One credit on the farm's account, as the bank described it."""

    booked_on: date
    amount_cents: int
    currency: str
    payer: str
    text: str  # the reference (structured) or purpose (free text), as it came
    key: str
    position: int  # 1-based transaction (or CSV row) number in the file, for messages


@dataclass(frozen=True)
class Skipped:
    """A line that is not a payment to the farm (debit, reversal, zero, pending...)."""

    position: int
    reason: str  # a short code: debit, reversal, pending, zero, unreadable


@dataclass
class Statement:
    lines: list[StatementLine] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class CsvLayout:
    """How a bank's CSV export is laid out (a CsvMapping row, without the database).

    Columns are 1-based numbers; `currency` 0 means the file has none (the farm's is used).
    """

    date: int
    amount: int
    payer: int
    reference: int
    currency: int = 0
    date_format: str = "%d.%m.%Y"
    decimal_comma: bool = True
    delimiter: str = ";"
    header_rows: int = 1


def _clip(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def _key(prefix: str, fields: tuple[object, ...], seen: Counter[tuple[object, ...]]) -> str:
    """A key for a line without a bank reference: its fields and how many identical lines
    came before it in this file (two equal transfers on one day are two payments)."""
    seen[fields] += 1
    raw = "\x1f".join(str(f) for f in fields) + f"\x1f{seen[fields]}"
    return f"{prefix}:h:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _bank_key(prefix: str, ref: str) -> str:
    key = f"{prefix}:{ref}"
    if len(key) > KEY_MAX:
        key = f"{prefix}:r:" + hashlib.sha256(ref.encode()).hexdigest()[:40]
    return key


# --- camt.053 / camt.054 ---------------------------------------------------------------


def _local(el: etree._Element) -> str:
    tag = el.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child(el: etree._Element | None, *path: str) -> etree._Element | None:
    """The first descendant along a path of local names (namespaces ignored)."""
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if _local(c) == name), None)
    return el


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if _local(c) == name]


def _text(el: etree._Element | None, *path: str) -> str:
    found = _child(el, *path)
    return (found.text or "").strip() if found is not None else ""


def _camt_amount(el: etree._Element | None) -> tuple[int, str] | None:
    """An <Amt Ccy="EUR">123.45</Amt> as cents and currency (the XML always uses a point)."""
    if el is None:
        return None
    value = (el.text or "").strip()
    if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,2})?", value):
        raise AmountError(value)
    return parse_cents(value, maximum=MAX_CENTS), (el.get("Ccy") or "").strip().upper()


def _camt_date(entry: etree._Element) -> date | None:
    for where in ("BookgDt", "ValDt"):
        day = _text(entry, where, "Dt")
        stamp = _text(entry, where, "DtTm")
        try:
            if day:
                return date.fromisoformat(day[:10])
            if stamp:
                return date.fromisoformat(stamp[:10])
        except ValueError:
            return None
    return None


def _payer(tx: etree._Element | None) -> str:
    parties = _child(tx, "RltdPties")
    # camt.053.001.02..07: Dbtr/Nm; .08 and later: Dbtr/Pty/Nm. The ultimate debtor, if
    # given, is who the money is for (a parent paying for a household).
    for path in (("Dbtr", "Nm"), ("Dbtr", "Pty", "Nm"), ("UltmtDbtr", "Nm")):
        name = _text(parties, *path)
        if name:
            return name
    return ""


def _remittance(tx: etree._Element | None) -> str:
    info = _child(tx, "RmtInf")
    if info is None:
        return ""
    parts = []
    for strd in _children(info, "Strd"):
        ref = _text(strd, "CdtrRefInf", "Ref")
        if ref:
            parts.append(ref)
    parts += [(u.text or "").strip() for u in _children(info, "Ustrd")]
    return " ".join(p for p in parts if p)


def _tx_ref(tx: etree._Element | None) -> str:
    refs = _child(tx, "Refs")
    for name in ("AcctSvcrRef", "TxId", "EndToEndId"):
        value = _text(refs, name)
        if value and value.upper() != "NOTPROVIDED":
            return value
    return ""


def parse_camt(data: bytes) -> Statement:
    """Read a camt.053 (statement) or camt.054 (notification) of any version.

    Elements are matched by local name, so camt.053.001.02 to .08 read alike. Entity and
    network resolution are off and a document type declaration is refused outright: a bank
    never sends one, and an external entity could otherwise read files (XXE).
    """
    if len(data) > MAX_BYTES:
        raise StatementError("too large")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise StatementError(f"malformed: {exc.msg}") from None
    if root is None:
        raise StatementError("malformed: empty")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise StatementError("doctype")
    reports = [el for el in root.iter() if _local(el) in ("Stmt", "Ntfctn", "Rpt")]
    if _local(root) != "Document" or not reports:
        raise StatementError("not camt")
    result = Statement()
    seen: Counter[tuple[object, ...]] = Counter()
    position = 0
    for report in reports:
        account_currency = _text(report, "Acct", "Ccy").upper()
        for entry in _children(report, "Ntry"):
            details = [
                tx for tdtls in _children(entry, "NtryDtls") for tx in _children(tdtls, "TxDtls")
            ]
            entry_ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
            status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
            reversal = _text(entry, "RvslInd").lower() in ("true", "1")
            booked = _camt_date(entry)
            for index, tx in enumerate(details or [None], start=1):
                position += 1
                if position > MAX_LINES:
                    raise StatementError("too many")
                indicator = _text(tx, "CdtDbtInd") or _text(entry, "CdtDbtInd")
                if indicator != "CRDT":
                    result.skipped.append(Skipped(position, "debit"))
                    continue
                if reversal:
                    result.skipped.append(Skipped(position, "reversal"))
                    continue
                if status and status.upper() not in ("BOOK", "BOOKED"):
                    result.skipped.append(Skipped(position, "pending"))
                    continue
                try:
                    amount = None
                    if tx is not None:
                        amount = _camt_amount(_child(tx, "AmtDtls", "TxAmt", "Amt"))
                        amount = amount or _camt_amount(_child(tx, "Amt"))
                    if amount is None and len(details) <= 1:
                        amount = _camt_amount(_child(entry, "Amt"))
                except AmountError:
                    amount = None
                if amount is None or booked is None:
                    result.skipped.append(Skipped(position, "unreadable"))
                    continue
                cents, currency = amount
                if cents <= 0:
                    result.skipped.append(Skipped(position, "zero"))
                    continue
                currency = currency or account_currency
                payer = _clip(_payer(tx), NAME_MAX)
                text = _clip(_remittance(tx), TEXT_MAX)
                ref = _tx_ref(tx)
                if ref:
                    key = _bank_key("camt", ref)
                elif entry_ref:
                    key = _bank_key("camt", f"{entry_ref}/{index}")
                else:
                    key = _key("camt", (booked, cents, currency, payer, text), seen)
                result.lines.append(
                    StatementLine(booked, cents, currency, payer, text, key, position)
                )
    return result


# --- CSV -----------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """Bank CSVs come as UTF-8 (with or without a BOM), UTF-16 with a BOM, or Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise StatementError("encoding") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def csv_amount(text: str, *, decimal_comma: bool) -> int:
    """A CSV amount as signed cents: "-1.234,56" with a decimal comma, "1,234.56" without."""
    value = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    sign = 1
    if value.endswith("-"):  # some banks print debits as "12,50-"
        value, sign = value[:-1], -1
    if value.startswith(("-", "+")):
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    group, mark = (".", ",") if decimal_comma else (",", ".")
    value = value.replace(group, "").replace(mark, ".")
    if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,2})?", value):
        raise AmountError(text)
    return sign * parse_cents(value)


def parse_csv(data: bytes, layout: CsvLayout, farm_currency: str) -> Statement:
    """Read a CSV export by its layout; rows that cannot be read are skipped, not guessed."""
    if len(data) > MAX_BYTES:
        raise StatementError("too large")
    text = decode(data)
    if "\x00" in text:
        raise StatementError("binary")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    result = Statement()
    seen: Counter[tuple[object, ...]] = Counter()
    wanted = max(layout.date, layout.amount, layout.payer, layout.reference, layout.currency)
    try:
        rows = list(reader)
    except csv.Error:
        raise StatementError("malformed") from None
    for position, row in enumerate(rows[layout.header_rows :], start=1):
        if position > MAX_LINES:
            raise StatementError("too many")
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < wanted:
            result.skipped.append(Skipped(position, "unreadable"))
            continue

        def cell(column: int, row: list[str] = row) -> str:
            return row[column - 1].strip()

        try:
            booked = datetime.strptime(cell(layout.date), layout.date_format).date()
            cents = csv_amount(cell(layout.amount), decimal_comma=layout.decimal_comma)
        except (ValueError, AmountError):
            result.skipped.append(Skipped(position, "unreadable"))
            continue
        if cents < 0:
            result.skipped.append(Skipped(position, "debit"))
            continue
        if cents == 0:
            result.skipped.append(Skipped(position, "zero"))
            continue
        currency = cell(layout.currency).upper() if layout.currency else ""
        currency = currency or farm_currency
        payer = _clip(cell(layout.payer), NAME_MAX)
        reference = _clip(cell(layout.reference), TEXT_MAX)
        key = _key("csv", (booked, cents, currency, payer, reference), seen)
        result.lines.append(StatementLine(booked, cents, currency, payer, reference, key, position))
    return result
