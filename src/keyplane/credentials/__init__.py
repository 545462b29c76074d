"""The secret format and hashing every credential keyplane issues shares.

`format.py`: `<prefix>_<random><checksum>`, the shape of API keys and root keys, OAuth
client secrets, refresh tokens, device codes and opaque access tokens (so one scanner and
one offline check recognise them all). `hashing.py`: the keyed hash stored in place of
each of them, and the subkeys derived from `KEYPLANE_SECRET_KEY` (peppers, signing-key
sealing, webhook secrets). Imports nothing of the server: the verifier SDK checks a key's
shape with `format.py`.
"""
