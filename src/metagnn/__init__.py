"""metagnn: neural program synthesis with structure-aware graph hypernetworks."""

__version__ = "0.1.0"
