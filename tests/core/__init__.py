"""Errors, names, durable and checked writes."""
