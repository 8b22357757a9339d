"""Throwaway servers the tests and benchmarks start on loopback (PostgreSQL, single-node Slurm).

They live with the tests, not in the runtime package: a wheel install never needs them.
Importable as ``testservers`` because pytest puts ``tests/`` on ``sys.path`` (pyproject's
``pythonpath``); benchmarks add it themselves.
"""
