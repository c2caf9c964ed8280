"""Use cases of the tickets service; they reach storage and crypto only through ``ports``."""
