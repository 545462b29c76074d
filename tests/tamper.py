"""Wrong credentials for tests: a credential with one character changed."""


def tampered(credential: str) -> str:
    """`credential` with its last character changed (to "x", unless it already is one: a
    fixed replacement leaves about one credential in 60 unchanged, a flaky test)."""
    return credential[:-1] + ("x" if credential[-1] != "x" else "y")
