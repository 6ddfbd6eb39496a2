"""SASL authentication in front of a broker that has none (Tansu), for ``TcpProxy``'s gate.

A connection must authenticate before anything reaches the broker, as on Apache Kafka: the
gate forwards ``ApiVersions``, answers ``SaslHandshake`` and ``SaslAuthenticate`` itself
(PLAIN, and SCRAM-SHA-256/512 per RFC 5802 with the proof checked), and only then lets the
proxy pipe the connection through. Any other request before that, or a wrong password, drops
the connection. Every attempt is recorded in ``logins``.

Frames are Kafka's: a 4-byte size, then a request header v1 (api key, version, correlation
id, client id) and the body. The versions aiokafka sends for these two requests (0 and 1)
are not "flexible", so plain ``struct`` covers them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, field

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
SCRAM_HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}
SCRAM_ITERATIONS = 4096


@dataclass(frozen=True)
class Login:
    client_id: str
    mechanism: str
    username: str
    ok: bool


@dataclass
class SaslGate:
    """Accepts ``username``/``password`` with ``mechanisms``; records every login."""

    username: str
    password: str
    mechanisms: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    logins: list[Login] = field(default_factory=list)
    refused_before_login: int = 0

    async def __call__(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> bool:
        mechanism = ""
        scram: _ScramServer | None = None
        while True:
            frame = await _read_frame(client_reader)
            api_key, version, correlation_id = struct.unpack_from(">hhi", frame)
            (client_id_length,) = struct.unpack_from(">h", frame, 8)
            client_id = frame[10:10 + max(client_id_length, 0)].decode()
            body = frame[10 + max(client_id_length, 0):]
            if api_key == API_VERSIONS:  # the broker's own answer
                _write_frame(up_writer, frame)
                client_writer.write(_frame(await _read_frame(up_reader)))
            elif api_key == SASL_HANDSHAKE:
                mechanism = _string(body, 0)[0]
                error = 0 if mechanism in self.mechanisms else UNSUPPORTED_SASL_MECHANISM
                names = b"".join(_encode_string(m) for m in self.mechanisms)
                _reply(client_writer, correlation_id,
                       struct.pack(">hi", error, len(self.mechanisms)) + names)
                if error:
                    return False
            elif api_key == SASL_AUTHENTICATE and mechanism:
                (length,) = struct.unpack_from(">i", body)
                token = body[4:4 + length]
                if mechanism == "PLAIN":
                    _authzid, username, password = token.decode().split("\0")
                    ok = username == self.username and password == self.password
                    return self._answer(client_writer, client_id, correlation_id, version,
                                        mechanism, username, ok, b"")
                if scram is None:
                    scram = _ScramServer(mechanism, self.password)
                    _reply(client_writer, correlation_id,
                           _auth_body(version, 0, None, scram.first(token.decode())))
                    continue
                ok = scram.username == self.username and scram.proof_ok(token.decode())
                return self._answer(client_writer, client_id, correlation_id, version,
                                    mechanism, scram.username, ok,
                                    scram.final() if ok else b"")
            else:  # anything else before authenticating: drop the connection
                self.refused_before_login += 1
                return False
            await client_writer.drain()

    def _answer(self, writer: asyncio.StreamWriter, client_id: str, correlation_id: int,
                version: int, mechanism: str, username: str, ok: bool, data: bytes) -> bool:
        self.logins.append(Login(client_id, mechanism, username, ok))
        if ok:
            _reply(writer, correlation_id, _auth_body(version, 0, None, data))
        else:
            _reply(writer, correlation_id, _auth_body(
                version, SASL_AUTHENTICATION_FAILED, "Authentication failed: invalid credentials",
                b""))
        return ok


class _ScramServer:
    """The server side of one SCRAM exchange (RFC 5802), for a user whose password we know."""

    def __init__(self, mechanism: str, password: str) -> None:
        self.hash = SCRAM_HASHES[mechanism]
        self.salt = secrets.token_bytes(16)
        self.salted = hashlib.pbkdf2_hmac(self.hash().name, password.encode(), self.salt,
                                          SCRAM_ITERATIONS)
        self.username = ""
        self.auth_message = ""

    def _hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash).digest()

    def first(self, client_first: str) -> bytes:
        bare = client_first.removeprefix("n,,")
        attributes = dict(pair.split("=", 1) for pair in bare.split(","))
        self.username = attributes["n"].replace("=2C", ",").replace("=3D", "=")
        self.nonce = attributes["r"] + secrets.token_hex(12)
        server_first = (f"r={self.nonce},s={base64.b64encode(self.salt).decode()},"
                        f"i={SCRAM_ITERATIONS}")
        self.auth_message = f"{bare},{server_first}"
        return server_first.encode()

    def proof_ok(self, client_final: str) -> bool:
        without_proof, _, proof = client_final.rpartition(",p=")
        if f"r={self.nonce}" not in without_proof.split(","):
            return False
        self.auth_message += f",{without_proof}"
        client_key = self._hmac(self.salted, b"Client Key")
        stored_key = self.hash(client_key).digest()
        signature = self._hmac(stored_key, self.auth_message.encode())
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        return hmac.compare_digest(expected, base64.b64decode(proof))

    def final(self) -> bytes:
        server_key = self._hmac(self.salted, b"Server Key")
        signature = self._hmac(server_key, self.auth_message.encode())
        return f"v={base64.b64encode(signature).decode()}".encode()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _write_frame(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(_frame(payload))


def _reply(writer: asyncio.StreamWriter, correlation_id: int, body: bytes) -> None:
    """A response with header v0 (the correlation id only)."""
    _write_frame(writer, struct.pack(">i", correlation_id) + body)


def _auth_body(version: int, error: int, message: str | None, data: bytes) -> bytes:
    text = struct.pack(">h", -1) if message is None else _encode_string(message)
    body = struct.pack(">h", error) + text + struct.pack(">i", len(data)) + data
    if version >= 1:
        body += struct.pack(">q", 0)  # session_lifetime_ms: no re-authentication
    return body


def _encode_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def _string(data: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">h", data, offset)
    end = offset + 2 + length
    return data[offset + 2:end].decode(), end
