"""The one error type that leadscore reports to users as a clear, one-line message."""


class LeadscoreError(Exception):
    """A problem with the user's input or set-up, with a message that says what and where.

    The CLI prints it without a traceback and exits with status 2.
    """
