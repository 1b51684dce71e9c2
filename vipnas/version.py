"""The package version (a leaf: the checkpoint writer and the CLI read it without importing the package facade)."""

__version__ = "0.1.0"
