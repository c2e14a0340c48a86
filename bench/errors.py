"""The harness's user-facing errors. The CLI prints them as one paragraph and exits 2.

All derive from `reimpl.errors.UserFacingError`, so errors raised inside `reimpl`
(unknown names, missing weights, checksum mismatches) are reported the same way.
"""

from reimpl.errors import (  # noqa: F401  (re-exported: the harness's one place for errors)
    ChecksumMismatchError,
    MissingWeightsError,
    UnknownNameError,
    UserFacingError,
)

BenchError = UserFacingError


class BadOverrideError(UserFacingError):
    """A `key=value` override that is malformed, names no field, or has a bad value."""


class BadImagesError(UserFacingError):
    """Images of the wrong shape, dtype or range, or features that are not finite."""


class BadCardError(UserFacingError):
    """checkpoints.yaml is malformed or a card names something unregistered."""
