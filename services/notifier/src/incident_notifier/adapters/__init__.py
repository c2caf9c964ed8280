"""The notifier's adapters: SQL (PostgreSQL or SQLite), Redis, HTTP, RabbitMQ, Prometheus."""
