"""Cameras, the button, the GPIO chip finder."""
