"""Key material of the local bed: one CA, a serving certificate for loopback, the kubelet API's serving
certificate (the node agents' addresses) and the API servers' client certificate for it, an administrator's
client certificate (as kind's kubeconfig has), and per-cluster ServiceAccount signing keys. Written as PEM
files; nothing here talks to a cluster."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

_VALIDITY = datetime.timedelta(days=3650)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    )
    path.chmod(0o600)


def write_ca_and_serving_cert(directory: Path, node_ips: tuple[str, ...] = ()) -> None:
    """Create ``ca.crt``, ``serving.crt`` and ``serving.key`` valid for 127.0.0.1 and localhost; ``kubelet.crt``
    / ``.key`` valid for ``node_ips`` (the node agents serve the kubelet API there); ``kubelet-client.crt`` /
    ``.key`` (the API servers' identity towards it); ``admin-client.crt`` / ``.key`` (user ``kbmc-dev-admin`` in
    group system:masters)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kbmc-dev-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.DNSName("kubernetes.default.svc"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "serving.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / "serving.key", key)
    node_names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in node_ips]
    client = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    for name, subject, usage, names in (
            ("kubelet", "kbmc-node-agent", x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
             node_names or [x509.DNSName("localhost")]),
            ("kubelet-client", "kube-apiserver-kubelet-client", client, []),
            ("admin-client", "kbmc-dev-admin/system:masters", client, [])):
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        common_name, _, group = subject.partition("/")
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group)] if group else []
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        leaf = builder.sign(ca_key, hashes.SHA256())
        (directory / f"{name}.crt").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        _write_key(directory / f"{name}.key", leaf_key)


def write_service_account_keys(directory: Path) -> None:
    """Create ``sa.key`` / ``sa.pub``: the pair one cluster signs and checks ServiceAccount tokens with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(directory / "sa.key", key)
    (directory / "sa.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    )
