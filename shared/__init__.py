"""Contracts and infrastructure shared by the five services. No business rules live here."""
