"""The package's version: a leaf, so that no module below the facade imports the package root for it."""

__version__ = "0.1.0"  # the one place the version is written; pyproject.toml reads it
