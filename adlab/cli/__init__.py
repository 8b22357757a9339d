"""Command-line interface: thin wrappers over adlab's query and command functions."""
from adlab.cli.app import app, main

__all__ = ["app", "main"]
