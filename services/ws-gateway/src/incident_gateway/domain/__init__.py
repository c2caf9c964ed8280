"""Rules of the gateway that need no I/O: the session protocol, the handshake, routing."""
