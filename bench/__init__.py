"""Benchmarks: ``python -m bench.<name>``. Long measurements live here, never in tests."""
