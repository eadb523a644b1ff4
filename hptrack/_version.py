"""The version of this source tree (the installed distribution's metadata wins when present)."""

__version__ = "0.1.0"
