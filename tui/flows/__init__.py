"""Use cases shared by the app and the CLI: Textual-free, like services."""
