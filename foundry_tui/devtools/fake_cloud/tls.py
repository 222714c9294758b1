"""A throwaway certificate authority and a server certificate for 127.0.0.1/localhost.

The runtime reaches the model registry over ``https://`` only, and its libcurl client trusts what ``SSL_CERT_FILE``
names. ``trustme`` mints the pair in-process when installed (the test extra); otherwise the ``openssl`` CLI does.
Nothing here is meant to protect anything: the key lives next to the certificate in a test work directory.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

_HOSTS = ("127.0.0.1", "localhost")


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    ca_file: Path  # the CA certificate (PEM) to trust: SSL_CERT_FILE
    cert_file: Path  # the server certificate chain (PEM)
    key_file: Path  # the server private key (PEM)


def make_tls_files(out_dir: Path, *, use_openssl: bool = False) -> TlsFiles:
    """Write a fresh CA and a server certificate for 127.0.0.1 and localhost into ``out_dir``.

    ``trustme`` when importable, else (or with ``use_openssl``) the ``openssl`` command."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(out_dir / "fake-cloud-ca.pem", out_dir / "server-cert.pem", out_dir / "server-key.pem")
    try:
        if use_openssl:
            raise ImportError("openssl requested")
        import trustme
    except ImportError:
        _with_openssl(files)
    else:
        ca = trustme.CA(organization_name="foundry-tui fake cloud (test only)")
        leaf = ca.issue_cert(*_HOSTS)
        ca.cert_pem.write_to_path(str(files.ca_file))
        leaf.private_key_pem.write_to_path(str(files.key_file))
        with files.cert_file.open("wb") as fh:
            for blob in leaf.cert_chain_pems:
                fh.write(blob.bytes())
    return files


def _with_openssl(files: TlsFiles) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("fake cloud TLS needs `trustme` (pip install trustme) or the `openssl` command")
    work = files.ca_file.parent
    ca_key = work / "ca-key.pem"
    csr = work / "server.csr"
    ext = work / "server-ext.cnf"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(files.ca_file),
        "-days", "30", "-subj", "/O=foundry-tui fake cloud (test only)/CN=fake cloud CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(files.key_file), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(files.ca_file), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(files.cert_file), "-days", "30", "-extfile", str(ext))  # fmt: skip
