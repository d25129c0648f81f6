"""A local certificate authority for serving the simulator over HTTPS on loopback.

simple-salesforce (and the real API) speak ``https://`` only, so the simulator is served with
TLS: :class:`LocalTLS` makes a throw-away CA with ``trustme``, issues a leaf certificate for
``127.0.0.1``, ``::1`` and ``localhost`` (an IP SAN: clients check the host name), and writes
three PEM files into a directory (a fresh temporary one unless given):

* ``ca.pem`` — the CA bundle a client must trust (``requests``: ``session.verify = path`` with
  ``session.trust_env = False``; httpx: ``verify=tls.client_context()``);
* ``server.pem`` / ``server.key`` — the leaf's chain and private key, for uvicorn.

The keys are test keys for loopback only. A temporary directory is removed by
:meth:`LocalTLS.cleanup` (or when the object is garbage-collected or the process exits).
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import weakref
from pathlib import Path

import trustme

__all__ = ["LocalTLS"]


class LocalTLS:
    def __init__(self, directory: str | Path | None = None) -> None:
        owned = directory is None
        self.directory = (
            Path(tempfile.mkdtemp(prefix="segsync-sf-tls-")) if owned else Path(str(directory))
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="segsync simulator CA")
        leaf = self._ca.issue_cert("127.0.0.1", "::1", "localhost")
        self.ca_bundle = self.directory / "ca.pem"
        self.certfile = self.directory / "server.pem"
        self.keyfile = self.directory / "server.key"
        self._ca.cert_pem.write_to_path(str(self.ca_bundle))
        with self.certfile.open("wb") as handle:
            for blob in leaf.cert_chain_pems:
                handle.write(blob.bytes())
        leaf.private_key_pem.write_to_path(str(self.keyfile))
        self.keyfile.chmod(0o600)
        self._finalizer = (
            weakref.finalize(self, shutil.rmtree, str(self.directory), True) if owned else None
        )

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only this CA (for httpx ``verify=``)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def cleanup(self) -> None:
        """Remove the files when this object made their directory."""
        if self._finalizer is not None:
            self._finalizer()
