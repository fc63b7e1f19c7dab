"""Errors, names, durable writes, bounded reads of untrusted files, text escaping,
paths: what every other package stands on.
"""
