"""Instructor side of sheet1_analytic: reference, challenge inputs, probes, checks and mutants."""
