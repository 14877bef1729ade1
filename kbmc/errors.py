"""Every error kbmc raises on purpose, in one flat module.

Each message says what was wrong, where (object, field, data plane, file) and what to do.
"""

from __future__ import annotations


class KbmcError(Exception):
    """Base of kbmc's own errors; the CLI prints the message and exits non-zero."""

    exit_code = 1


class ToolchainError(KbmcError):
    """The bed's binaries could not be obtained or built."""


class BedError(KbmcError):
    """The local bed cannot do what was asked (bad cluster name, ports taken, start failure)."""


class UsageError(KbmcError):
    """A command was called with arguments that cannot work."""

    exit_code = 2
