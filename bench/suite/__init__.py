"""`make bench`: the benchmark suite of issue 8 (end to end, stages, fan-out, idle cost).

Run from the repository root as ``python -m bench.suite --help``.
"""
