"""The money side shared by its parts: the farm's billing profile, the season price of each
membership and what each invoice still asks. The bidding round (csa/bidding), invoices
(csa/invoices), payments (csa/payments), direct debits (csa/sepa) and reminders
(csa/reminders) build on it; its blueprint is the treasurer's desk and its settings page.
"""
