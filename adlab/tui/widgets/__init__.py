"""Reusable widgets of the monitor."""
