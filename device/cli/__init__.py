"""`scopecount`: the argument parser and one module per command."""
