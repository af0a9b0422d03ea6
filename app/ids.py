"""Random, unguessable ids: URLs must not reveal how many boards, comparisons or takes exist."""

import secrets

_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/1/i/l/o: ids get read aloud and typed


def new_id(n: int = 12) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_ids(count: int, n: int = 12) -> list[str]:
    """`count` ids like new_id's, from one read of the system's randomness: a suite makes
    thousands at once, and a `secrets.choice` per character costs a syscall each. A random
    byte below 248 (= 8 × 31) maps to a character by `% 31`, so every character stays uniform;
    the other bytes are skipped."""
    out: list[str] = []
    chars: list[str] = []
    while len(out) < count:
        for b in secrets.token_bytes((count - len(out)) * n * 2):
            if b < 248:
                chars.append(_ALPHABET[b % 31])
                if len(chars) == n:
                    out.append("".join(chars))
                    chars = []
                    if len(out) == count:
                        break
    return out
