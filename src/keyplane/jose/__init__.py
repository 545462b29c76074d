"""JOSE for keyplane: JWK conversion, a lean compact JWS path, JWT claims checks."""
