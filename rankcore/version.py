"""The version of rankcore (one place, read by the package, the snapshot writer and the CLI)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
