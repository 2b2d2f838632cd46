"""Intake's pure rules: no I/O, no ORM. Each module is named after the thing it governs."""
