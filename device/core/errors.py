"""Errors the command line turns into exit codes (DESIGN.md: 2 bad input, 1 other failure)."""


class BadInput(Exception):
    """Input the user can fix: a file, a value or an option. Exit code 2, one line."""


class ModelError(BadInput):
    """A model file that cannot be used: unreadable, wrong shapes, bad metadata."""
