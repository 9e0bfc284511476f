"""Test support shipped with the package: synthetic models and synthesised speech (needs the `test` extra)."""
