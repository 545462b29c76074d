"""The `keyplane` command line: one module a command group.

`serve`, `migrate` and `bootstrap` work on the store directly; `apis`, `keys`,
`root-keys` and `audit` talk to a running service over its `/v1/` API (KEYPLANE_URL,
KEYPLANE_ROOT_KEY). People get tables; scripts pass `--json` and get the response as is.
"""
