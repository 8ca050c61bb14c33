"""Benchmark harness of unleash_lite against the official Unleash Python SDKs.

The orchestrator (``benchmarks/run.py``) and the workers (``benchmarks/worker.py``, run with
each SDK's own virtual environment) share these modules. Everything a worker imports from here
is standard library only, so it runs unchanged in every SDK's environment.
"""
