"""`scopecount` commands as a user runs them."""
