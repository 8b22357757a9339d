"""Alembic scripts for adlab's schema; installed as ``adlab._migrations`` (see setup.py)."""
