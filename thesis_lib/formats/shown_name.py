"""How errors name a converted dataset: by the path the user opened, then the version read.

A reader reads a hidden version folder (``.out.versions/<version>``, see :mod:`.publish`) that
the user never typed; an error naming it sends them looking for a folder they do not know. Errors
name ``out (version <version>)`` instead, then the file inside it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import FormatError


class ShownName:
    """The name errors give the dataset in ``folder``, opened by the user as ``shown``."""

    def __init__(self, folder: Path, shown: Path | None = None):
        self.folder = Path(folder)
        self.shown = Path(shown) if shown is not None else self.folder

    def __str__(self) -> str:
        if self.shown == self.folder:  # a plain folder (no versions): its path is what the user typed
            return str(self.shown)
        return f"{self.shown} (version {self.folder.name})"

    def message(self, text: str) -> str:
        """``text`` with the version folder named as the user knows it: a leading
        ``<folder>/data.h5: ...`` becomes ``out (version v): data.h5: ...``; a mention further on
        becomes the path through ``out``."""
        folder = str(self.folder)
        if self.shown == self.folder or folder not in text:
            return text
        if text.startswith(folder + os.sep):
            text = f"{self}: {text[len(folder) + 1:]}"
        elif text.startswith(folder):
            text = f"{self}{text[len(folder):]}"
        return text.replace(folder, str(self.shown))

    @contextmanager
    def errors(self):
        """Rename the dataset in the message of a FormatError, IndexError or ValueError raised inside."""
        try:
            yield
        except (FormatError, IndexError, ValueError) as exc:
            if exc.args and isinstance(exc.args[0], str) and self.message(exc.args[0]) != exc.args[0]:
                exc.args = (self.message(exc.args[0]), *exc.args[1:])
            raise
