"""Benchmarks: a protocol of cases and methods, each run fitted and predicted in a fresh process,
scored and tabulated."""
