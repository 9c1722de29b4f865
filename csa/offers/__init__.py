"""Offered shares and swaps between members of one pickup site (issue 13)."""
