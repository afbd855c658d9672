"""The two ways a command ends early, each printed as one line by `cli.main.main`."""

from __future__ import annotations


class CliError(Exception):
    """A failure a person can act on: printed as one line, exit status 1."""

    exit_code = 1


class UsageError(CliError):
    """The command line itself is wrong (nothing was sent to the server): exit status 2."""

    exit_code = 2
