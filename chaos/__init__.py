"""chaos: resilience experiments against services in Docker, with real faults and real load."""

__version__ = "0.1.0"
