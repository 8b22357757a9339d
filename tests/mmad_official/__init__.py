"""The official MMAD functions, copied verbatim for cross-checks (see each file header)."""
