"""Intake's adapters to the outside world (population database)."""
