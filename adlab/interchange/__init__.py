"""Runs in and out of the lab: MLflow CSV / answers-file import, CSV and JSON export.

Beside ``analysis`` (neither imports the other): both read the database and the pipelines'
declarations, and the CLI calls them.
"""
