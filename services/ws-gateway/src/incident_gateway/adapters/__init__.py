"""Implementations of the gateway's ports over Redis, HTTP, JWT and Prometheus."""
