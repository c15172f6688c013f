"""Official Account message crypto, as the WeChat servers do it.

Importable on its own (tests/integration/test_sim.py checks it against published vectors):

  sha1_sorted(*parts)             sort the strings, join, lowercase hex SHA-1 (signature and
                                  msg_signature both use it)
  aes_key(encoding_aes_key)       the 43-character EncodingAESKey -> the 32-byte AES key
  encrypt(key, msg, appid, rnd)   base64(AES-256-CBC(rnd16 | len(msg) big-endian u32 | msg | appid)),
                                  IV = key[:16], PKCS#7 padded to a multiple of 32 bytes
  decrypt(key, b64)               the reverse: (msg bytes, appid str); ValueError when malformed
  push_envelope(to, enc)          <xml><ToUserName/><Encrypt/></xml> as WeChat posts it
  reply_envelope(enc, sig, ts, n) the envelope a server answers with
  xml_fields(text)                the direct children of <xml> as a dict of strings

Only the standard library and python3-cryptography.
"""

import base64
import binascii
import hashlib
import os
import struct
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # the padding block of the OA scheme (not the AES block size)


def sha1_sorted(*parts):
    """Lowercase hex SHA-1 of the strings sorted as strings and concatenated."""
    return hashlib.sha1("".join(sorted(str(p) for p in parts)).encode("utf-8")).hexdigest()


def aes_key(encoding_aes_key):
    """The AES key behind an EncodingAESKey (43 base64 characters, '=' appended)."""
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as err:
        raise ValueError(f"EncodingAESKey is not base64: {err}") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey does not decode to 32 bytes")
    return key


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def encrypt(key, msg, appid, random16=None):
    """Encrypt one message for appid; random16 defaults to 16 fresh random bytes."""
    rnd = os.urandom(16) if random16 is None else _as_bytes(random16)
    if len(rnd) != 16:
        raise ValueError("the random prefix must be 16 bytes")
    body = _as_bytes(msg)
    frame = rnd + struct.pack(">I", len(body)) + body + _as_bytes(appid)
    pad = BLOCK - len(frame) % BLOCK  # 1..32, a whole block when already aligned
    frame += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(frame) + enc.finalize()).decode("ascii")


def decrypt(key, b64):
    """Decrypt an Encrypt value; returns (msg bytes, trailing appid as str)."""
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"Encrypt is not base64: {err}") from None
    if not data or len(data) % 16:
        raise ValueError("ciphertext length is not a multiple of 16")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(data) + dec.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding")
    plain = plain[:-pad]
    if len(plain) < 20:
        raise ValueError("frame too short")
    (length,) = struct.unpack(">I", plain[16:20])
    if length > len(plain) - 20:
        raise ValueError("message length exceeds the frame")
    msg = plain[20:20 + length]
    try:
        appid = plain[20 + length:].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("trailing appid is not UTF-8") from None
    return msg, appid


def cdata(text):
    """A CDATA section holding text (a "]]>" inside is split over two sections)."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def push_envelope(to_user, encrypted):
    return (f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
            f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>")


def reply_envelope(encrypted, msg_signature, timestamp, nonce):
    return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{cdata(msg_signature)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")


def xml_fields(text):
    """Children of the <xml> root as {tag: text}; ValueError when it is not such a document."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
    if "<!DOCTYPE" in text.upper():
        raise ValueError("DOCTYPE is not accepted")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ValueError(f"not XML: {err}") from None
    if root.tag != "xml":
        raise ValueError(f"root element is <{root.tag}>, not <xml>")
    return {child.tag: (child.text or "") for child in root}
