"""Intake: procedure catalogue, dossier submission, desk reception, tracking and KPIs."""
