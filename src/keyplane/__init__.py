"""keyplane: self-hosted API keys and API tokens."""

__version__ = "0.1.0"
