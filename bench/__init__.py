"""The measuring harness: `python -m bench` (see bench/README.md). Timing lives here, never in tests."""
