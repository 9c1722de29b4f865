"""Payment plans, invoices and credit notes: the instalments of each membership's season
price (plans.py, pure), issued by the scheduler with gapless numbers (numbering.py,
operations.py), as PDFs with an EPC QR code (pdf.py), mailed with the PDF attached; the
coordinators' list and the member's Money page (views.py)."""
