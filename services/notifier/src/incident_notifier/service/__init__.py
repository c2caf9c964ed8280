"""Use cases of the notifier; they reach the outside world only through ``ports``."""
