"""API keys of ``bench serve``: a JSON file of key names, the SHA-256 of each key and the models it may use.

A key is 32 random bytes (``secrets``), shown once when it is created; the file keeps only its hash, so a
leaked keys file gives no usable key. A plain hash (no slow KDF) is enough because the keys are random, not
passwords a person chose.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass

from spoofbench.protocols.errors import BenchError, ConfigError
from spoofbench.protocols.files import write_text_atomic

KEY_PREFIX = "sbk_"
_NAME = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
FILE_VERSION = 1


@dataclass(frozen=True)
class KeyRecord:
    name: str
    sha256: str
    models: tuple[str, ...] | None  # None: every model the service holds
    created: str

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models

    def to_json(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "models": None if self.models is None else list(self.models),
                "created": self.created}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """The keys of one keys file (read once; ``bench keys`` edits the file, the service reads it at start)."""

    def __init__(self, records: list[KeyRecord], path: str | None = None):
        self.path = path
        self.records = {r.name: r for r in records}
        self._by_hash = {r.sha256: r for r in records}

    @classmethod
    def load(cls, path: os.PathLike | str) -> KeyStore:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise BenchError(f"{path}: keys file not found (create it with: bench keys add NAME --keys {path})")
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            records = [KeyRecord(str(r["name"]), str(r["sha256"]),
                                 None if r.get("models") is None else tuple(str(m) for m in r["models"]),
                                 str(r.get("created", ""))) for r in data["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BenchError(f"{path}: not a keys file written by bench keys ({type(exc).__name__}: {exc})") from None
        for record in records:
            if not re.fullmatch(r"[0-9a-f]{64}", record.sha256):
                raise BenchError(f"{path}: key {record.name!r} has no valid sha256")
        return cls(records, path)

    @classmethod
    def load_or_empty(cls, path: os.PathLike | str) -> KeyStore:
        return cls.load(path) if os.path.exists(path) else cls([], os.fspath(path))

    def find(self, key: str) -> KeyRecord | None:
        """The record of ``key``, or None. Compared in constant time against the stored hash."""
        digest = hash_key(key)
        record = self._by_hash.get(digest)
        return record if record is not None and hmac.compare_digest(record.sha256, digest) else None

    def add(self, name: str, models: list[str] | None = None) -> str:
        """Create a key called ``name``; returns the key (the only time it exists in clear)."""
        if not _NAME.fullmatch(name):
            raise ConfigError(f"key name {name!r} is not allowed; use 1-64 letters, digits or _.@+-")
        if name in self.records:
            raise ConfigError(f"{self.path}: a key named {name!r} exists; remove it first (bench keys remove)")
        key = new_key()
        record = KeyRecord(name, hash_key(key), None if models is None else tuple(models),
                           time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.records[name] = record
        self._by_hash[record.sha256] = record
        return key

    def remove(self, name: str) -> None:
        if name not in self.records:
            raise ConfigError(f"{self.path}: no key named {name!r}")
        del self._by_hash[self.records.pop(name).sha256]

    def save(self) -> None:
        text = json.dumps({"version": FILE_VERSION, "keys": [r.to_json() for r in self.records.values()]}, indent=1)
        write_text_atomic(self.path, text + "\n")
        os.chmod(self.path, 0o600)  # hashes only, but nobody else needs to read them
