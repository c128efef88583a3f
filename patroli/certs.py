"""A private certificate authority for the MQTT broker's TLS listener, made with the `cryptography` package.

A police network has no business trusting the public web PKI for its own broker, and a site without its own CA
still needs encrypted links on day one: `patroli services certs` makes a CA (ECDSA P-256, 10 years), the broker's
certificate signed by it (with the host names and addresses it is reached at), and, when asked, per-radio client
certificates whose common name is the unit id (for `require_certificate` + `use_identity_as_username`). Every
client then trusts only that CA (`PATROLI_MQTT_CA_FILE`). Keys are written 0600; the CA key should then be moved
off the broker host (it is needed only to issue more certificates). A site with its own CA uses that instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 825  # the longest lifetime common TLS clients accept for a server certificate


@dataclass(frozen=True, slots=True)
class CertPaths:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    os.chmod(path, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Patroli 110"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: expected an EC private key")
    return cert, key


def make_ca(directory: Path, *, common_name: str = "Patroli 110 private CA") -> CertPaths:
    """A new CA in `directory` (ca.crt, ca.key), or the one already there (never replaced silently)."""
    ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
    if not ca_cert.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(ca_key, key)
        _write_cert(ca_cert, cert)
    return CertPaths(ca_cert, ca_key, ca_cert, ca_key)


def issue(
    ca: CertPaths,
    directory: Path,
    name: str,
    *,
    server_names: list[str] | None = None,
    client: bool = False,
    days: int = LEAF_DAYS,
) -> CertPaths:
    """A key and a certificate signed by the CA: a server's (`server_names`: DNS names or IP addresses) or a
    client's (common name = `name`, the MQTT username when the broker uses its identity as username)."""
    ca_cert, ca_key = _load(ca.ca_cert, ca.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    paths = CertPaths(ca.ca_cert, ca.ca_key, directory / f"{name}.crt", directory / f"{name}.key")
    _write_key(paths.key, key)
    _write_cert(paths.cert, cert)
    return paths
