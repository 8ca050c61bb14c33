"""Unleash's normalised MurmurHash3 buckets, shared by rollouts and variants."""

from __future__ import annotations

from collections.abc import Callable

import mmh3

VARIANT_SEED = 86028157


def normalized_hash(group_id: str, identifier: str, modulus: int = 100, seed: int = 0) -> int:
    """Return the 1-based bucket of ``identifier`` within ``group_id``: 1..modulus."""
    return bucket_function(group_id, modulus, seed)(identifier)


def bucket_function(group_id: str, modulus: int = 100, seed: int = 0) -> Callable[[str], int]:
    """Compile :func:`normalized_hash` for one group, so each call hashes and nothing more."""
    prefix = f"{group_id}:"
    prefix_bytes = prefix.encode("utf-8", "surrogatepass")
    prefix_is_ascii = prefix.isascii()
    murmur = mmh3.hash

    def bucket(identifier: str) -> int:
        if prefix_is_ascii and identifier.isascii():
            return int(murmur(prefix + identifier, seed, False)) % modulus + 1
        # mmh3 crashes the process on strings holding lone surrogates (which JSON can carry),
        # so anything beyond ASCII is hashed as bytes: the same UTF-8 for any valid text.
        data = prefix_bytes + identifier.encode("utf-8", "surrogatepass")
        return int(murmur(data, seed, False)) % modulus + 1

    return bucket
