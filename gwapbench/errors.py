"""Errors a user can fix: the CLI prints them as one line and exits with code 2."""


class InputError(ValueError):
    """Bad user input: a missing or malformed file, a wrong argument, an unknown class.

    The message names the file or argument and says what is wrong, in one line.
    """
