"""podheitor: Bacula plugin backends as a ports-and-adapters library."""

__version__ = "0.1.0"
