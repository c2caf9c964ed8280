"""The embedded dev mode: the tickets service, the notifier and a ws-gateway in one process
on one port, with SQLite files and in-process stand-ins for RabbitMQ and Redis (or the real
servers, when ``AMQP_URL`` / ``REDIS_URL`` / ``DATABASE_URL`` are set), and the web console.
"""
