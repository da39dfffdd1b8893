"""What the user sees: one module per wizard step, plus the credentials and launch screens."""
