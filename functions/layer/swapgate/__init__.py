"""Swapgate: a serverless face-swap gateway. This package is the shared Lambda layer."""

__version__ = "0.1.0"
