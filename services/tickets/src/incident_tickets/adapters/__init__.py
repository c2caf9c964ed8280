"""SQL storage, Argon2 hashing, Ed25519 tokens, the RabbitMQ publisher, Prometheus metrics."""
