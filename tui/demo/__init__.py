"""The embedded simulated cloud behind ``d2l-tui --demo``: nothing leaves the machine."""
