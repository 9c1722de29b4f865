"""Payments (issue 12): typed by hand or imported from bank statements, matched to invoices."""
