"""Benchmarks: targets live here, measured as ratios to references in the same run (docs/performance.md)."""
