"""Errors a user can cause with data: a wrong layout, a missing file, a corrupt image."""

from dranet_keras.errors import UserError


class DatasetError(UserError):
    """A data set root is missing or does not have the expected layout."""


class CorruptImageError(UserError):
    """An image file cannot be read or decoded."""
