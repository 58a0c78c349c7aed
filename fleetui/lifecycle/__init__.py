"""Warranty, service life, book value, cost and repairs."""
