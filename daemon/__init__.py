"""dialogd: an offline voice and text dialogue daemon for edge devices."""

__version__ = "0.1.0"
