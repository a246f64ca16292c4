"""MarketGuard: find non-compliant products sold online, preserve evidence, review, notify."""

__version__ = "0.1.0"
