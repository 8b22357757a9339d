"""Packages for the wheel: adlab itself plus the top-level migrations/ folder as adlab._migrations.

pyproject.toml holds everything else. The mapping lives here because pyproject's package
discovery cannot rename a folder; the repository keeps migrations/ at the top (Alembic's usual
place) and adlab.db.schema_scripts finds the scripts by importing adlab._migrations, which
works the same in an editable install (setuptools maps the name to migrations/) and a wheel.
"""
from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["adlab", "adlab.*"]), "adlab._migrations",
              "adlab._migrations.versions"],
    package_dir={"adlab._migrations": "migrations"},
)
