"""The terminal UI, driven by Textual's Pilot."""
