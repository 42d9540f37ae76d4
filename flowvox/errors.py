"""The one exception type for mistakes a user can fix (bad input, missing tools)."""


class FlowvoxError(ValueError):
    """Bad user input or environment: the message names the input and the fix.

    The CLI prints ``str(error)`` on one line and exits with status 2; library callers
    can catch it as a ``ValueError``.
    """
