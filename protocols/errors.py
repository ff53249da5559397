"""Errors that reach the user as one clear line (the CLI prints them and exits with code 2)."""
from __future__ import annotations

import os


class BenchError(Exception):
    """Base class of every error that is the user's input, not a bug in the toolkit."""

    exit_code = 2


class ProtocolError(BenchError):
    """A protocol, key or manifest file is malformed."""

    def __init__(self, path: os.PathLike | str, problem: str, line: int | None = None, *, text: str | None = None):
        """``text``: the offending line as it reads, quoted at the end of the message."""
        self.path, self.problem, self.line, self.text = str(path), problem, line, text
        where = f"{self.path}:{line}" if line is not None else self.path
        quote = f' in "{text}"' if text else ""
        super().__init__(f"{where}: {problem}{quote}")


class AudioError(BenchError):
    """An audio file is missing, empty, corrupt or unusable."""

    def __init__(self, path: os.PathLike | str, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(BenchError):
    """A detector name, preset, hyperparameter or option is wrong."""
