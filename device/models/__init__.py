"""The model store on the bench: install, receive, activate, rollback, signatures, lock."""
