"""The model store: install, activate, rollback, hostile files."""
