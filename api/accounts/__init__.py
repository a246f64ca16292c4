"""Officer accounts: users and roles, password login sessions, API tokens, the audit log."""
