"""The one exception the data layer raises for bad input."""


class DataError(ValueError):
    """Bad input: the message names the file, key, column, row or value, and what was expected."""
