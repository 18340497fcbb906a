"""Instructor side of sheet2_cifar: reference, challenge inputs, probes, checks and mutants."""
