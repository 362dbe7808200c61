"""Adapters to other libraries (imported only on demand; each needs its library)."""
