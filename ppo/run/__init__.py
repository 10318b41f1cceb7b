"""Run bookkeeping shared by every agent: the run directory's one reader/writer, evaluation on fixed seeds,
the run log, provenance, seeding and atomic writes. Imports nothing from agents or analysis."""
