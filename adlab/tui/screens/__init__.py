"""Screens of the monitor: runs (main), run detail, compare, dialogs, file viewer."""
