"""The one rule for "this value looks like a credential", for every params source.

Params are stored in the lab database and shown by ``show``, ``compare``, exports and the TUI,
so a key pasted into a study file, a ``--set`` override, an imported CSV column or a re-queued
config would be leaked to everyone who can read the lab. Every source (the config loader, the
override parser, the importers, the one run writer :func:`adlab.db.runs.insert_run` and the
pipelines' params models) asks :func:`find_secret` and words its refusal with
:func:`secret_refusal`, so the patterns and the fix are written once.

A ``${VAR}`` reference in a study file is expanded before storing, so it is no way around
this: the fix is to name the variable (``api.api_key_env`` for ``mmad``), never its value.
"""
from __future__ import annotations

import re
from typing import Any

# Key prefixes count only at the start of a word: "/mnt/disk-anomaly_datasets" or
# "risk-assessment_large" hold "sk-" followed by 16 characters but are no key.
_START = r"(?<![A-Za-z0-9])"
_SECRET_PATTERNS = (
    _START + r"sk-[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic style keys
    _START + r"AIza[0-9A-Za-z_\-]{30,}",  # Google API keys
    _START + r"(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{20,}",  # GitHub tokens
    _START + r"hf_[A-Za-z0-9]{30,}",  # Hugging Face tokens
    _START + r"AKIA[0-9A-Z]{16}(?![0-9A-Z])",  # AWS access key ids
    r"(?i:[?&](?:api[_-]?key|key|token|access_token)=[^&]{8,})",  # key in a URL query
    r"(?i:^[a-z][a-z0-9+.\-]*://[^/@\s:]+:[^/@\s]+@)",  # user:password@ in a URL
    r"(?i:^bearer\s+\S{12,}$)",
)
# One alternation, one scan per string: every run's params pass here when it is written.
_SECRET = re.compile("|".join(_SECRET_PATTERNS))
_SHORTEST = 8  # no pattern matches fewer characters ("a://b:c@")

SECRET_FIX = (
    "params are stored in the lab database, so put the key in an environment variable and give "
    "the variable's name instead (mmad: api.api_key_env, or the provider's default "
    "OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY), not the key or a ${VAR} reference "
    "to it"
)


# What every match holds: one cheap scan rules out the common case before the full patterns.
_HINT = re.compile(r"sk-|AIza|gh[pos]_|github_pat_|hf_|AKIA|[=@]|^(?i:bearer)")


def looks_like_secret(text: str) -> bool:
    """True when ``text`` holds what looks like an API key, a token or a password in a URL."""
    if len(text) < _SHORTEST:
        return False
    return _HINT.search(text) is not None and _SECRET.search(text) is not None


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def find_secret(value: Any, path: str = "") -> str | None:
    """The dotted path (``api.base_url``, ``models[2]``) of the first string in ``value`` (a
    scalar, or mappings and lists nested to any depth; keys are checked too) that looks like a
    secret, else None. A scalar secret at the top returns ``path`` itself (maybe ``""``), so
    test the result with ``is not None``. Paths are built only for a hit and for containers:
    every run's params pass here when the run is written."""
    if isinstance(value, str):
        return path if looks_like_secret(value) else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, child in items:
        if isinstance(key, str) and looks_like_secret(key):
            return path or "(a key)"
        if isinstance(child, str):
            if looks_like_secret(child):
                return _join(path, key) if isinstance(value, dict) else f"{path}[{key}]"
        elif isinstance(child, (dict, list, tuple)):
            found = find_secret(child, _join(path, key) if isinstance(value, dict)
                                else f"{path}[{key}]")
            if found is not None:
                return found
    return None


def secret_refusal(what: str) -> str:
    """The refusal sentence for ``what`` (e.g. ``"config file s.yaml: field `api.base_url`"``);
    it never repeats the value."""
    return f"{what} holds what looks like an API key or password; {SECRET_FIX}"
