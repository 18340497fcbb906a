"""Benchmarks of the course code against peers, run by ``make bench``."""
