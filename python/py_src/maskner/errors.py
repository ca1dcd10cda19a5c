"""The exceptions of maskner: one per kind of engine error, all under :class:`MasknerError`.

Each also derives from the builtin a caller would catch for it, so ``except ValueError`` keeps
working for bad input and ``except FileNotFoundError`` for a missing model. The message is the
CLI's one-line message; ``index`` is the position of the failing input in the list given to
``Engine.tag``/``Engine.fill_mask`` (``None`` when the error is not about one input).
"""

from typing import Optional

__all__ = ["MasknerError", "InputError", "LimitError", "NotFoundError", "FilesError", "InternalError"]


class MasknerError(Exception):
    """Base class of every error raised by maskner."""

    index: Optional[int] = None


class InputError(MasknerError, ValueError):
    """Bad input: a text, its spans, an argument, an engine setting."""


class LimitError(InputError):
    """Well-formed input over a limit of a model or of the engine (a phrase or text longer than
    the model's maximum, too many members). Never truncated silently."""


class FilesError(MasknerError, OSError):
    """A model, map, seed, label-map or configuration file is unreadable or invalid."""


class NotFoundError(FilesError, FileNotFoundError):
    """A model, map or file that does not exist (or a hub id that cannot be fetched)."""


class InternalError(MasknerError, RuntimeError):
    """Not the caller's fault: a model failed on valid input, or a bug."""
