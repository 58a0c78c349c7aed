"""Shared vocabulary: errors, units, statuses and audit actions. Imports nothing of fleetui."""
