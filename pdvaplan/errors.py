"""The one exception type users see."""


class PdvaplanInputError(Exception):
    """Bad input: a missing, unreadable or inconsistent file or parameter.

    The message is one line that names the file (or parameter) and what is
    wrong with it. The command line prints it and exits with status 2.
    """
