"""What the integration tests need to run real service processes against real servers."""
