"""Errors a user can cause and fix. Their message is one sentence, shown without a traceback."""


class UserError(Exception):
    """A problem with the user's input or environment (exit code 1 unless said otherwise)."""

    exit_code = 1


class SchemaTooNew(UserError):
    exit_code = 2


class Interrupted(UserError):
    """Ctrl+C: the work under way was rolled back (exit code 130, as shells expect)."""

    exit_code = 130
