"""The package version, in a module of its own so that low layers can name it in headers and
tags without importing the package face."""

__version__ = "0.1.0"
