"""People: accounts with argon2id passwords, their roles, their consents to clients."""
