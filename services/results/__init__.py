"""Results: signed electronic results, verification, return and reuse."""
