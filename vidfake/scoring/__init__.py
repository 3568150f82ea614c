"""Scoring: a model over face-track windows (`scorer`), a whole collection into a ranked CSV
with resume, locally or on a pool of Ray workers (`collection`)."""
