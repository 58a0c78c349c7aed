"""Errors a user can cause and fix. Their message is one sentence, shown without a traceback."""


class UserError(Exception):
    """A problem with the user's input or environment (exit code 1 unless said otherwise)."""

    exit_code = 1


class SchemaTooNew(UserError):
    exit_code = 2
