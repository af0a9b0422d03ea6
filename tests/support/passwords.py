"""Password hashing for the test process (see conftest's cheap_password_hashing)."""

from argon2 import PasswordHasher, profiles


def cheap_hasher() -> PasswordHasher:
    """Argon2id at argon2-cffi's CHEAPEST profile (8 KiB, one pass): the library's own
    parameters for tests, never for production."""
    return PasswordHasher.from_parameters(profiles.CHEAPEST)
