"""How the outside world reaches the notifier: the HTTP API, the queue consumer, the CLI."""
