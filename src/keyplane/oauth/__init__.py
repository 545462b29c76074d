"""The OAuth 2.0 authorization server: signing keys, clients, grants, tokens."""
