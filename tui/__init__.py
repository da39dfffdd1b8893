"""d2l-tui: the "Using AWS EC2 Instances" chapter of Dive into Deep Learning as a terminal app."""

__version__ = "0.1.0"
