"""The emulator's one error type, in a module of its own so that every part of the room can
raise it without importing the package that assembles them."""

from __future__ import annotations

from ..errors import AmlgenError


class EmulatorError(AmlgenError):
    """The emulator cannot start or serve as asked (e.g. a non-loopback address)."""
