"""Benchmarks: ``python -m bench`` runs them all and prints the tables (see bench/run.py)."""
