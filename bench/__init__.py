"""Benchmarks: `python -m bench` (full) or `python -m bench --smoke` (a few seconds, run by CI).

Each benchmark prints one line with its figures, a baseline measured in the same run on the same
database, the ratio and the target. See bench/RESULTS.md for recorded runs.
"""
