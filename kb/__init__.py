"""kb: a peer-learning library of prevention case studies for integrated care systems."""

__all__ = ["__version__"]

__version__ = "0.1.0"
