"""The config tree: limits and the Pi's config."""
