"""Benchmark harness: metrics, score files, fusion, reports and the ``bench`` command line."""
