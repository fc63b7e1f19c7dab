"""The repository as a whole: units and install script, the lock, the shape of the code."""
