"""Pure code: what should exist where. No I/O, no clock, no randomness; tested by comparing dicts."""
