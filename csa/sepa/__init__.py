"""SEPA direct debits: members' mandates, pain.008 files for the bank, collected batches."""
