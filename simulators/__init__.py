"""Simulators of the outside systems (population database, payment platform, SMS/e-mail/Zalo
providers, national portal, postal service). Each is a real HTTP (or SMTP) server with switches
to misbehave, used by the tests and the embedded default; none is imported by a service."""
