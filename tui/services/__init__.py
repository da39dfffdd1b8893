"""What talks to the world. Nothing in this package imports Textual (tests/test_layering.py)."""
