"""WeChat Pay APIv3 crypto, as the Pay servers and a merchant do it.

Importable on its own (tests/integration/test_sim_pay.py checks it against published vectors):

  load_private(path)                    a PEM private key (PKCS#8 or PKCS#1)
  load_public(path)                     a PEM public key or an X.509 certificate -> public key
  cert_serial(path)                     the certificate serial as upper-case hex
  sign(key, message)                    base64 SHA256withRSA (RSASSA-PKCS1-v1_5) of bytes or str
  verify(pub, message, signature_b64)   True / False, never raises
  request_message(method, path_query, timestamp, nonce, body)
                                        "METHOD\\nPATH?QUERY\\nTS\\nNONCE\\nBODY\\n" (bytes)
  answer_message(timestamp, nonce, body)
                                        "TS\\nNONCE\\nBODY\\n" (bytes): answers and notifies
  authorization(key, mchid, serial, method, path_query, body, nonce=None, timestamp=None)
                                        the value of the Authorization header of a request
  parse_authorization(value)            -> dict (mchid, nonce_str, timestamp, serial_no, signature);
                                        ValueError when it is not a WECHATPAY2-SHA256-RSA2048 value
  aead_encrypt(key, nonce, ad, plain)   base64(AES-GCM ciphertext | 16-byte tag)
  aead_decrypt(key, nonce, ad, b64)     the plaintext bytes; ValueError when the tag does not match
  pay_sign(key, appid, timestamp, nonce, package)
                                        paySign of the JSAPI invoke parameters

The APIv3 key has 32 bytes (AES-256-GCM); aead_* also take a 16-byte key, as some published
vectors use one. Only the standard library and python3-cryptography.
"""

import base64
import binascii
import re
import secrets
import string
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEME = "WECHATPAY2-SHA256-RSA2048"
NONCE_ALPHABET = string.ascii_uppercase + string.digits


def _b(value):
    if value is None:
        return b""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def load_private(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def load_public(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def cert_serial(path):
    with open(path, "rb") as f:
        return format(x509.load_pem_x509_certificate(f.read()).serial_number, "X")


def public_pem(key):
    """The SubjectPublicKeyInfo PEM of a private or public key (str)."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def sign(key, message):
    return base64.b64encode(key.sign(_b(message), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(pub, message, signature_b64):
    try:
        sig = base64.b64decode(_b(signature_b64), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        pub.verify(sig, _b(message), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def request_message(method, path_query, timestamp, nonce, body):
    return b"%s\n%s\n%s\n%s\n%s\n" % (_b(method.upper()), _b(path_query), _b(str(timestamp)),
                                      _b(nonce), _b(body))


def answer_message(timestamp, nonce, body):
    return b"%s\n%s\n%s\n" % (_b(str(timestamp)), _b(nonce), _b(body))


def new_nonce(n=32):
    return "".join(secrets.choice(NONCE_ALPHABET) for _ in range(n))


def authorization(key, mchid, serial, method, path_query, body, nonce=None, timestamp=None):
    nonce = nonce or new_nonce()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    sig = sign(key, request_message(method, path_query, timestamp, nonce, body))
    return (f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",timestamp="{timestamp}",'
            f'serial_no="{serial}",signature="{sig}"')


_PAIR = re.compile(r'\s*([A-Za-z_]+)="([^"]*)"\s*(?:,|$)')


def parse_authorization(value):
    value = (value or "").strip()
    if not value.startswith(SCHEME + " "):
        raise ValueError(f"the scheme is not {SCHEME}")
    rest = value[len(SCHEME) + 1:].strip()
    out, pos = {}, 0
    while pos < len(rest):
        m = _PAIR.match(rest, pos)
        if not m or m.end() == pos:
            raise ValueError("malformed parameter list")
        if m.group(1) in out:
            raise ValueError(f"duplicate parameter {m.group(1)}")
        out[m.group(1)] = m.group(2)
        pos = m.end()
    missing = [k for k in ("mchid", "nonce_str", "timestamp", "serial_no", "signature")
               if not out.get(k)]
    if missing:
        raise ValueError("missing " + ", ".join(missing))
    return out


def _aead_key(key):
    key = _b(key)
    if len(key) not in (16, 32):
        raise ValueError("the AEAD key must have 32 bytes (16 only for old test vectors)")
    return key


def aead_encrypt(key, nonce, associated_data, plain):
    ct = AESGCM(_aead_key(key)).encrypt(_b(nonce), _b(plain), _b(associated_data))
    return base64.b64encode(ct).decode("ascii")


def aead_decrypt(key, nonce, associated_data, ciphertext_b64):
    try:
        ct = base64.b64decode(_b(ciphertext_b64), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"ciphertext is not base64: {err}") from None
    if len(ct) < 16:
        raise ValueError("ciphertext shorter than the tag")
    try:
        return AESGCM(_aead_key(key)).decrypt(_b(nonce), ct, _b(associated_data))
    except InvalidTag:
        raise ValueError("authentication tag mismatch") from None


def pay_sign(key, appid, timestamp, nonce, package):
    return sign(key, f"{appid}\n{timestamp}\n{nonce}\n{package}\n")
