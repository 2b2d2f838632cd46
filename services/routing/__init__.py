"""Routing: inter-agency workflow, tasks, the working-day SLA clock and decisions."""
