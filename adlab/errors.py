"""User-facing errors: one clear sentence naming what is wrong and how to fix it."""
from __future__ import annotations


class AdlabError(Exception):
    """An error the user can act on. The CLI prints ``str(err)`` and exits with code 1."""


class ConfigError(AdlabError):
    """A config file or override is invalid (names the file, field path and value)."""


class NotFoundError(AdlabError):
    """A run, pipeline, dataset or file the user named does not exist."""


class PipelineError(AdlabError):
    """A pipeline failed for a reason the user can fix (missing weights, bad data)."""


class DataError(PipelineError):
    """A dataset file is unreadable or inconsistent (a corrupt image, a mask of another size
    than its image): names the file and the fix."""


class DatabaseError(AdlabError):
    """The lab database cannot be used (unreachable, unreadable, deleted or replaced)."""
