"""Training methods: one module each, and the registry (filled in below)."""
