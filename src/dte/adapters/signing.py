"""The engine's Ed25519 signing key: signs run manifests so results can be checked later."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dte.domain.workflows import canonical_json


class Signer:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = key.public_key()
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """Read the PEM key at ``path``; on first start create it (mode 600, never logged)."""
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(temp, path)  # fails if another engine created it meanwhile: then use theirs
        except FileExistsError:
            temp.unlink()
            return cls.load_or_create(path)
        temp.unlink()
        return cls(key)

    @property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, document: Any) -> str:
        return base64.b64encode(self._key.sign(canonical_json(document))).decode()

    def verify(self, document: Any, signature: str) -> bool:
        return verify_with(self.public_key, document, signature)


def verify_with(public_key: Ed25519PublicKey, document: Any, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), canonical_json(document))
    except (InvalidSignature, ValueError):
        return False
    return True
