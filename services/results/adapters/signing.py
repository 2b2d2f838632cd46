"""Digital signatures (PAdES, pyHanko) and their verification.

`Signer` is the port: sign a PDF as an agency. `LocalTestCaSigner` is the embedded default's and
the tests' adapter: a provincial test CA and one signing certificate per agency, generated on
first use and kept in a directory. Production replaces it with an HSM or a remote signing service
behind the same port. `verify` checks a PDF's signature against the trusted CA certificate(s):
intact, valid, trusted, by whom, when."""
from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.stamp import TextStampStyle
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from shared.pdf import FONTS

SIGNATURE_FIELD = "ChuKySo"


class Signer(Protocol):
    async def sign(self, pdf: bytes, *, agency: str, agency_name: str, reason: str,
                   stamp: str | None = None) -> bytes: ...

    def trust_roots_pem(self) -> bytes: ...


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signing, content_commitment=signing, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=not signing,
                         crl_sign=not signing, encipher_only=False, decipher_only=False)


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)


class LocalTestCaSigner:
    def __init__(self, directory: str | Path, province: str) -> None:
        self.directory = Path(directory)
        self.province = province
        (self.directory / "agencies").mkdir(parents=True, exist_ok=True)
        self.ca_key, self.ca_cert = self._ca()
        self._signers: dict[str, signers.SimpleSigner] = {}

    def _ca(self):
        key_file, cert_file = self.directory / "ca.key", self.directory / "ca.pem"
        if key_file.exists() and cert_file.exists():
            return (serialization.load_pem_private_key(key_file.read_bytes(), None),
                    x509.load_pem_x509_certificate(cert_file.read_bytes()))
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = _name(f"CA thử nghiệm tỉnh {self.province}", f"UBND tỉnh {self.province} (thử nghiệm)")
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_usage(signing=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        _write_private(key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return key, cert

    def trust_roots_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def _agency_signer(self, agency: str, agency_name: str) -> signers.SimpleSigner:
        if agency in self._signers:
            return self._signers[agency]
        key_file, cert_file = self.directory / "agencies" / f"{agency}.key", self.directory / "agencies" / f"{agency}.pem"
        if key_file.exists() and cert_file.exists():
            key = serialization.load_pem_private_key(key_file.read_bytes(), None)
            cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.UTC)
            cert = (x509.CertificateBuilder().subject_name(_name(agency_name, agency)).issuer_name(self.ca_cert.subject)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=730))
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(_usage(signing=True), critical=True)
                    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                                   critical=False)
                    .sign(self.ca_key, hashes.SHA256()))
            _write_private(key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
            cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        signer = signers.SimpleSigner(
            signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
            signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
            cert_registry=SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(
                self.ca_cert.public_bytes(serialization.Encoding.DER))]))
        self._signers[agency] = signer
        return signer

    async def sign(self, pdf: bytes, *, agency: str, agency_name: str, reason: str, stamp: str | None = None) -> bytes:
        signer = self._agency_signer(agency, agency_name)
        meta = PdfSignatureMetadata(field_name=SIGNATURE_FIELD, subfilter=fields.SigSeedSubFilter.PADES,
                                    md_algorithm="sha256", reason=reason, location=self.province)
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        if stamp is None:
            pdf_signer = PdfSigner(meta, signer)
        else:   # a visible stamp on the first page (certified copies of scanned paper results)
            fields.append_signature_field(writer, fields.SigFieldSpec(SIGNATURE_FIELD, on_page=0,
                                                                      box=(300, 30, 580, 130)))
            style = TextStampStyle(stamp_text=stamp, text_box_style=TextBoxStyle(
                font=GlyphAccumulatorFactory(str(FONTS / "DejaVuSerif.ttf")), font_size=8))
            pdf_signer = PdfSigner(meta, signer, stamp_style=style)
        return (await pdf_signer.async_sign_pdf(writer)).getvalue()


@dataclass(frozen=True)
class Verification:
    signed: bool
    intact: bool
    valid: bool
    trusted: bool
    signer: str | None
    signed_at: str | None
    covers_whole_file: bool
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.valid and self.trusted and self.covers_whole_file


async def verify(pdf: bytes, trust_roots_pem: bytes) -> Verification:
    roots = [asn1_x509.Certificate.load(x509.load_pem_x509_certificate(trust_roots_pem).public_bytes(
        serialization.Encoding.DER))]
    try:
        reader = PdfFileReader(io.BytesIO(pdf))
        embedded = reader.embedded_signatures
    except Exception as exc:  # noqa: BLE001 - anything unreadable is "not a signed PDF we can vouch for"
        return Verification(False, False, False, False, None, None, False, f"not a readable PDF ({type(exc).__name__})")
    if not embedded:
        return Verification(False, False, False, False, None, None, False, "the PDF carries no signature")
    context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    try:
        status = await async_validate_pdf_signature(embedded[-1], context)
    except Exception as exc:  # noqa: BLE001 - a damaged signature is an invalid one
        return Verification(True, False, False, False, None, None, False, f"signature unreadable ({type(exc).__name__})")
    covers = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    return Verification(True, bool(status.intact), bool(status.valid), bool(status.trusted),
                        status.signing_cert.subject.human_friendly if status.signing_cert else None,
                        status.signer_reported_dt.isoformat() if status.signer_reported_dt else None, covers)
