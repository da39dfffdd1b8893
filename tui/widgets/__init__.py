"""Reusable pieces shared by screens."""
