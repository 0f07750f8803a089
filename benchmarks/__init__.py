"""Benchmarks: each compares podheitor with a reference tool measured in the same run and
prints the ratio. Run all with ``make bench`` (``python -m benchmarks``) or one with
``python -m benchmarks.<name>``. They are measurements, not pass/fail tests."""
