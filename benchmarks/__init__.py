"""Benchmarks: run from the repository root as ``python -m benchmarks.NAME``.

Each writes a markdown table to ``benchmarks/results/NAME.md`` with the machine noted.
"""
