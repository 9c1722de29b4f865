"""An invoice or credit note as a PDF (WeasyPrint through csa/sheets/pdf.py: the same fonts,
fetcher and one-process font configuration), and the EPC QR code a banking app scans.

The EPC QR code ("GiroCode", EPC069-12) is a SEPA credit transfer: euro only. For another
currency the page prints a plain transfer block and says why there is no code.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import segno
import segno.helpers
from flask_babel import force_locale
from markupsafe import Markup

from csa.core.banking import format_iban
from csa.extensions import db
from csa.models import FarmProfile, Invoice, InvoiceKind, InvoiceSeller
from csa.money.profile import farm_profile
from csa.notices.attachments import Attachment, AttachmentMissing, register
from csa.sheets.pdf import render_document, write_document

STYLESHEET = "invoices/pdf.css"
EPC_NAME_MAX = 70  # the beneficiary's name in an EPC payload


Seller = FarmProfile | InvoiceSeller


def seller_of(invoice: Invoice) -> Seller:
    """The farm as the invoice was issued with it (the profile now, for rows made before
    the copy existed)."""
    return db.session.get(InvoiceSeller, invoice.id) or farm_profile()


def epc_qr(profile: Seller, invoice: Invoice, amount_cents: int) -> segno.QRCode | None:
    """The EPC QR code paying `amount_cents` of an invoice, or None: not euro, no IBAN or
    legal name, or nothing to pay."""
    if invoice.currency != "EUR" or not profile.iban or not profile.legal_name.strip():
        return None
    if amount_cents <= 0 or invoice.kind != InvoiceKind.INVOICE:
        return None
    return segno.helpers.make_epc_qr(
        name=profile.legal_name.strip()[:EPC_NAME_MAX],
        iban=profile.iban,
        amount=Decimal(amount_cents) / 100,
        reference=invoice.reference,
        bic=profile.bic or None,
    )


def qr_svg(qr: segno.QRCode | None, scale: int = 3) -> Markup | None:
    """The code as inline SVG (no XML declaration), for a page or a PDF."""
    if qr is None:
        return None
    svg = qr.svg_inline(scale=scale, border=4, dark="#000", light="#fff")
    return Markup(re.sub(r"^<\?xml[^>]*>\s*", "", svg))  # noqa: S704 - segno's own SVG


def pdf_context(invoice: Invoice, profile: Seller | None = None) -> dict[str, Any]:
    profile = profile or seller_of(invoice)
    qr = epc_qr(profile, invoice, invoice.total_cents)
    return {
        "invoice": invoice,
        "profile": profile,
        "iban": format_iban(profile.iban),
        "qr": qr_svg(qr, scale=3),
        "euro": invoice.currency == "EUR",
    }


def invoice_pdf(invoice: Invoice, profile: Seller | None = None) -> bytes:
    """The PDF of an issued invoice or credit note, in its household's language."""
    with force_locale(invoice.member.locale):
        document = render_document(
            "invoices/pdf.html", stylesheet_template=STYLESHEET, **pdf_context(invoice, profile)
        )
        return write_document(document)


def filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"


def _attachment(invoice_id: int) -> Attachment:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise AttachmentMissing(f"invoice {invoice_id} is gone")
    return Attachment(filename(invoice), "application", "pdf", invoice_pdf(invoice))


register("invoice", _attachment)
