"""Use cases of the gateway over its ports (no socket, Redis or HTTP code here)."""
