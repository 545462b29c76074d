"""Storage: SQLAlchemy Core over SQLite and PostgreSQL; one module a repository."""
