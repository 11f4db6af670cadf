"""Benchmarks, run with ``make bench``: each module ``bench/bench_*.py`` has ``main()``."""
