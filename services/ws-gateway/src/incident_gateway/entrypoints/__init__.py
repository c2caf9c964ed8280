"""How the gateway meets the world: the WebSocket/HTTP server and the process entry point."""
