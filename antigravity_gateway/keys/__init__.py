"""Per-user API keys: who may use the pool, for which models, how fast, until when, from where.

``record.py`` the key record, its daily usage and an admission's answer; ``secret.py`` the secret's
format and its hash (the store keeps only the hash and a short prefix); ``parse.py`` what operators
type (names, ``30d``/ISO expiries, model globs, CIDR lists); ``table.py`` the keys of this process,
looked up by hash; ``enforce.py`` a request's key: its model rule, the atomic admission against the
shared counters, the release and its usage. Contract and operation: docs/keys.md.
"""
