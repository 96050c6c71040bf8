"""Benchmarks: `make bench` (python -m benchmarks) runs every module in SUITES."""
