"""Random, unguessable ids: URLs must not reveal how many boards, comparisons or takes exist."""

import secrets

_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/1/i/l/o: ids get read aloud and typed


def new_id(n: int = 12) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))
