"""A device's trust store: the public keys whose manifest signatures it accepts.

Stored as JSON through :mod:`openvisor.atomicfile`::

    {"keys": [{"key_id": "1a2b...", "public_key": "04...", "label": "cloud"}]}

``key_id`` is the 16-digit hex form of the signer id; provisioning adds the
cloud's key and any developer keys the account trusts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from openvisor import atomicfile
from openvisor.bundle.signing import check_public_key, key_id
from openvisor.errors import BundleError, StateError

log = logging.getLogger(__name__)


@dataclass
class TrustStore:
    """Trusted P-256 public keys by signer id.

    Example::

        trust = TrustStore()
        trust.add(cloud_public_key, label="cloud")
        trust.save(state_dir / "trust.json")
    """

    keys: dict[int, bytes] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)

    def add(self, public_key: bytes, *, label: str = "") -> int:
        """Trust a 65-byte public key and return its signer id."""
        check_public_key(public_key)
        signer_id = key_id(public_key)
        self.keys[signer_id] = public_key
        self.labels[signer_id] = label
        return signer_id

    def remove(self, signer_id: int) -> None:
        """Stop trusting a key; unknown ids are ignored."""
        self.keys.pop(signer_id, None)
        self.labels.pop(signer_id, None)

    def get(self, signer_id: int) -> bytes | None:
        """Return the public key with this signer id, or None when it is not trusted."""
        return self.keys.get(signer_id)

    def __len__(self) -> int:
        return len(self.keys)

    def save(self, path: Path) -> None:
        """Write the store to ``path`` atomically."""
        entries = [
            {
                "key_id": f"{signer_id:016x}",
                "public_key": key.hex(),
                "label": self.labels[signer_id],
            }
            for signer_id, key in sorted(self.keys.items())
        ]
        atomicfile.write_json(path, {"keys": entries})

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        """Read a store written by :meth:`save`; an absent file is an empty store."""
        value = atomicfile.read_json(path, default={"keys": []})
        store = cls()
        try:
            for entry in value["keys"]:
                store.add(bytes.fromhex(entry["public_key"]), label=entry.get("label", ""))
        except (KeyError, TypeError, ValueError, BundleError) as exc:
            raise StateError(
                f"trust store {path} is malformed ({exc!r}); provision the device again"
            ) from exc
        log.debug("Loaded trust store (path=%s, keys=%d)", path, len(store))
        return store
