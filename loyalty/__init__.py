"""Loyalty: the points ledger, earning rules, expiry, tier qualification and rewards."""
