"""Instructor side of sheet3_vgg: reference, challenge inputs, probes, checks and mutants."""
