"""The package's own exceptions: each message names the file or parameter at fault."""


class ThesisLabError(Exception):
    """Base class for every error thesis_lib raises on bad data."""


class MissingResultsFolder(ThesisLabError, FileNotFoundError):
    """A results folder that is not there (a misspelt ``--results-dir`` or ``$THESIS_RESULTS_DIR``)."""


class SourceError(ThesisLabError):
    """A dataset source is missing, has the wrong layout, or holds undecodable images."""


class FormatError(ThesisLabError):
    """A converted dataset is corrupt, truncated, incomplete or does not match its manifest."""


class SplitNotFound(SourceError):
    """A dataset has no such split, or none with labels: a caller looking for a held-out split may
    go on to the next; any other SourceError means the data is broken."""
