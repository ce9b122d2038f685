"""Ed25519 keys: generation, encrypted storage, and the public-key policy for certification.

Private keys are stored as encrypted PKCS#8 PEM (PBES2, AES-256) inside a small JSON key file.
Its password is the officer's passphrase stretched with scrypt: `cryptography`'s own PKCS#8
encryption uses a fast KDF (a guess costs well under a millisecond), far too cheap for the short
passphrases officers choose. Public keys are raw
32 bytes. Before a key is certified we decode the point ourselves, because OpenSSL accepts keys
that an auditor must never see certified: non-canonical encodings (y >= p, or x = 0 with the sign
bit set) and points of small order, whose signatures can verify for many messages.
"""

from __future__ import annotations

import json
import os
import unicodedata
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ledger.encoding import b64url, key_id, unb64url
from ledger.errors import KeyRefused, WrongPassphrase

__all__ = ["SigningKey", "check_public_key", "verifier_for", "verify_signature"]

KEY_FILE_TYPE = "commune.keyfile/v1"
SCRYPT_N = 2**15  # ~32 MB and ~0.1 s per try on an old PC; stored in the file, so it can grow
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


class SigningKey:
    """An Ed25519 private key with its raw public key and DESIGN key id."""

    __slots__ = ("_key", "key_id", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(self.public)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Deterministic key from 32 bytes (tests and demo data only)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def seed(self) -> bytes:
        """The raw 32-byte private key (for a hub that keeps its keys in its own database)."""
        return self._key.private_bytes_raw()

    def seal(self, passphrase: str, *, cost: int = SCRYPT_N) -> bytes:
        """The key file: encrypted PKCS#8 (PBES2, AES-256) whose password is the passphrase
        stretched with scrypt, so each guess at a weak passphrase costs ~32 MB and ~0.1 s."""
        if not passphrase:
            raise KeyRefused("a private key is never stored without a passphrase")
        salt = os.urandom(16)
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_stretch(passphrase, salt, cost)),
        )
        doc = {
            "type": KEY_FILE_TYPE,
            "kdf": "scrypt",
            "n": cost,
            "r": 8,
            "p": 1,
            "salt": b64url(salt),
            "key_id": self.key_id,
            "pkcs8": pem.decode("ascii"),
        }
        return json.dumps(doc, indent=1).encode("utf-8")

    @classmethod
    def unseal(cls, data: bytes, passphrase: str) -> SigningKey:
        try:
            doc = json.loads(data)
            if doc.get("type") != KEY_FILE_TYPE or doc.get("kdf") != "scrypt":
                raise ValueError("not a commune key file")
            n, salt, pem = int(doc["n"]), unb64url(doc["salt"], 16), doc["pkcs8"].encode("ascii")
            if not 2 <= n <= 2**20 or n & (n - 1):
                raise ValueError("bad scrypt cost")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyRefused("the key file is damaged or not a commune key file") from exc
        try:
            key = serialization.load_pem_private_key(pem, _stretch(passphrase, salt, n))
        except (ValueError, TypeError) as exc:
            raise WrongPassphrase("wrong passphrase") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyRefused("the key file does not hold an Ed25519 key")
        return cls(key)

    def wrap(self, secret: bytes) -> bytes:
        """Encrypt `secret` so only the holder of this key can read it (AES-256-GCM under a key
        derived from the private key): how an officer's sign-in also unlocks the station key."""
        nonce = os.urandom(12)
        return nonce + AESGCM(self._wrapping_key()).encrypt(nonce, secret, b"commune-wrap/v1")

    def unwrap(self, blob: bytes) -> bytes:
        try:
            return AESGCM(self._wrapping_key()).decrypt(blob[:12], blob[12:], b"commune-wrap/v1")
        except (InvalidTag, ValueError) as exc:
            raise KeyRefused("this key cannot open that wrapped secret") from exc

    def _wrapping_key(self) -> bytes:
        raw = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"commune-wrap/v1"
        ).derive(raw)


def _stretch(passphrase: str, salt: bytes, cost: int) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=cost, r=8, p=1)
    return b64url(kdf.derive(unicodedata.normalize("NFC", passphrase).encode("utf-8"))).encode()


@lru_cache(maxsize=4096)
def verifier_for(public: bytes) -> Ed25519PublicKey:
    """Parsed public key, cached: a ledger has few signers and many signatures."""
    return Ed25519PublicKey.from_public_bytes(public)


def verify_signature(public: bytes, signature: bytes, message: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    try:
        verifier_for(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def check_public_key(public: bytes) -> None:
    """Refuse what must never be certified: wrong length, non-canonical, off-curve, small order."""
    if len(public) != 32:
        raise KeyRefused(f"an Ed25519 public key is 32 bytes, not {len(public)}")
    y = int.from_bytes(public, "little") & ((1 << 255) - 1)
    sign = public[31] >> 7
    if y >= _P:
        raise KeyRefused("non-canonical public key encoding (y >= p)")
    x = _recover_x(y, sign)
    if x is None:
        raise KeyRefused("public key is not a point on Ed25519")
    if x == 0 and sign == 1:
        raise KeyRefused("non-canonical public key encoding (x = 0 with sign bit set)")
    # [8]P = identity <=> P is in the small-order subgroup.
    point = (x, y)
    for _ in range(3):
        point = _double(point)
    if point == (0, 1):
        raise KeyRefused("low-order public key")


def _recover_x(y: int, sign: int) -> int | None:
    # RFC 8032 section 5.1.3, steps 2-4.
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    vx2 = (v * x * x) % _P
    if vx2 == u:
        pass
    elif vx2 == (-u) % _P:
        x = (x * _SQRT_M1) % _P
    else:
        return None
    if x != 0 and (x & 1) != sign:
        x = _P - x
    return x


def _double(point: tuple[int, int]) -> tuple[int, int]:
    # Affine addition on -x^2 + y^2 = 1 + d x^2 y^2, with P + P.
    x, y = point
    dxy = (_D * x * x * y * y) % _P
    x3 = (2 * x * y * pow((1 + dxy) % _P, _P - 2, _P)) % _P
    y3 = ((y * y + x * x) * pow((1 - dxy) % _P, _P - 2, _P)) % _P
    return x3, y3
