"""The ws-gateway: authenticated WebSocket delivery of notifications (API.md, "WebSocket").

Layout: ``domain`` holds the sans-I/O session, handshake and routing rules; ``service`` the use
cases over ports; ``adapters`` Redis, HTTP and Prometheus; ``entrypoints.server`` the only code
that touches sockets; ``bootstrap`` wires them; ``testing`` ships in-memory fakes of the ports.
"""
