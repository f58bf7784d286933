"""confkit: configuration files."""

from confkit.loader import load
from confkit.parser import ConfigError, Document, parse

__all__ = ["ConfigError", "Document", "load", "parse"]
