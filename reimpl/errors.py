"""Errors meant for the person running the code, each carrying a fix.

`assert` is kept for our own invariants; anything a user can cause raises one of these,
so the CLI can print a one-paragraph message instead of a traceback.
"""


class UserFacingError(Exception):
    """An error caused by input (names, files, overrides) with a `hint` that names the fix."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message


class UnknownNameError(UserFacingError, KeyError):
    """A registry lookup for a name that is not registered."""


class MissingWeightsError(UserFacingError):
    """Weights that must come from outside (a hub, a release page) are not on disk."""


class ChecksumMismatchError(UserFacingError):
    """A file's sha256 differs from the one recorded in checkpoints.yaml."""
