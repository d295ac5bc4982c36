"""Errors about model weights that a user can fix (torch-free, so that the CLI can catch them cheaply)."""


class WeightsError(Exception):
    """Weights that cannot be used: an unknown weights name, an unreadable file, a state dict that does not fit.

    The message says what was given and what would work; the CLI prints it as one line (exit code 2).
    """


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A weights file is missing and could not be downloaded; the message says where to put it."""
