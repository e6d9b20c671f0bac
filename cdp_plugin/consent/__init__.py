"""Consent: statements from the ledger and from in-event signals, and how they resolve."""
