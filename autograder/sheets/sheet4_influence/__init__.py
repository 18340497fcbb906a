"""Instructor side of sheet4_influence: reference, challenge inputs, probes, checks and mutants."""
