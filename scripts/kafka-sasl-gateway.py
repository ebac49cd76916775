#!/usr/bin/env python3
"""SASL in front of a Kafka-protocol broker, for Ferry's tests.

    kafka-sasl-gateway.py --listen PORT --upstream HOST:PORT --user NAME:PASSWORD [--user ...]

Does what a Kafka broker's SASL listener does (KIP-43/KIP-152): before a
connection has logged in it answers ApiVersions (from the broker behind),
SaslHandshake v1 (mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and
SaslAuthenticate v0-v2, and drops the connection on any other request; a
failed login is answered with SASL_AUTHENTICATION_FAILED (58) and the
connection closed. After the login it pipes bytes to the broker unchanged.

The SCRAM server is scramp (an independent RFC 5802/7677 implementation);
PLAIN compares the password. Why not the broker's own SASL: Tansu 0.6 offers
no PLAIN, and stores SCRAM users only through AlterUserScramCredentials from
an already-authenticated client, which an in-memory broker can never have.
The broker behind must advertise this gateway's address (or that of a TLS
terminator in front of it). Listens on 127.0.0.1 only.
"""
import argparse
import asyncio
import struct
import sys

from scramp import ScramException, ScramMechanism

MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
NONE, UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, UNSUPPORTED_VERSION, SASL_AUTHENTICATION_FAILED = 0, 33, 34, 35, 58


def uvarint(data, i):
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def put_uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def skip_tags(data, i):
    count, i = uvarint(data, i)
    for _ in range(count):
        _, i = uvarint(data, i)
        size, i = uvarint(data, i)
        i += size
    return i


async def read_frame(reader):
    head = await reader.readexactly(4)
    (size,) = struct.unpack(">i", head)
    return head + await reader.readexactly(size)


class Session:
    def __init__(self, users, scram_info):
        self.users = users
        self.scram_info = scram_info
        self.mechanism = None
        self.server = None
        self.authenticated = False

    def authenticate(self, token):
        """One SaslAuthenticate round: (error code, message, reply bytes, done)."""
        if self.mechanism == "PLAIN":
            parts = token.split(b"\0")
            if len(parts) == 3 and parts[1].decode() in self.users and self.users[parts[1].decode()] == parts[2].decode():
                return NONE, None, b"", True
            return SASL_AUTHENTICATION_FAILED, "Authentication failed: Invalid username or password", b"", False
        try:
            if self.server is None:
                mech = ScramMechanism(self.mechanism)

                def auth_fn(name):
                    if name not in self.users:
                        raise ScramException("unknown user")
                    return self.scram_info[(self.mechanism, name)]

                self.server = mech.make_server(auth_fn)
                self.server.set_client_first(token.decode())
                return NONE, None, self.server.get_server_first().encode(), False
            self.server.set_client_final(token.decode())
            return NONE, None, self.server.get_server_final().encode(), True
        except ScramException:
            return (SASL_AUTHENTICATION_FAILED,
                    "Authentication failed during authentication due to invalid credentials with SASL mechanism " + self.mechanism,
                    b"", False)


def handshake_response(corr, code):
    body = struct.pack(">ih", corr, code) + struct.pack(">i", len(MECHANISMS))
    for m in MECHANISMS:
        body += struct.pack(">h", len(m)) + m.encode()
    return body


def authenticate_response(corr, version, code, message, reply):
    if version >= 2:
        msg = b"\0" if message is None else put_uvarint(len(message.encode()) + 1) + message.encode()
        body = struct.pack(">i", corr) + b"\0" + struct.pack(">h", code) + msg + put_uvarint(len(reply) + 1) + reply
        return body + struct.pack(">q", 0) + b"\0"
    msg = struct.pack(">h", -1) if message is None else struct.pack(">h", len(message.encode())) + message.encode()
    body = struct.pack(">ih", corr, code) + msg + struct.pack(">i", len(reply)) + reply
    return body + (struct.pack(">q", 0) if version >= 1 else b"")


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(client_r, client_w, upstream, users, scram_info):
    host, port = upstream
    try:
        up_r, up_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    session = Session(users, scram_info)
    try:
        while not session.authenticated:
            frame = await read_frame(client_r)
            api, version, corr = struct.unpack(">hhi", frame[4:12])
            (cid_len,) = struct.unpack(">h", frame[12:14])
            i = 14 + max(cid_len, 0)
            if api == API_VERSIONS:
                up_w.write(frame)
                await up_w.drain()
                client_w.write(await read_frame(up_r))
            elif api == SASL_HANDSHAKE:
                (n,) = struct.unpack(">h", frame[i:i + 2])
                mech = frame[i + 2:i + 2 + n].decode()
                ok = mech in MECHANISMS and version == 1
                session.mechanism = mech if ok else None
                payload = handshake_response(corr, NONE if ok else UNSUPPORTED_SASL_MECHANISM)
                client_w.write(struct.pack(">i", len(payload)) + payload)
            elif api == SASL_AUTHENTICATE and session.mechanism is not None:
                if version >= 2:
                    i = skip_tags(frame, i)
                    n, i = uvarint(frame, i)
                    token = frame[i:i + n - 1]
                else:
                    (n,) = struct.unpack(">i", frame[i:i + 4])
                    token = frame[i + 4:i + 4 + n]
                code, message, reply, done = session.authenticate(token)
                payload = authenticate_response(corr, version, code, message, reply)
                client_w.write(struct.pack(">i", len(payload)) + payload)
                await client_w.drain()
                if code != NONE:
                    break
                session.authenticated = done
                continue
            else:
                break  # any other request before the login: drop the connection, as Kafka does
            await client_w.drain()
        if session.authenticated:
            await asyncio.gather(pipe(client_r, up_w), pipe(up_r, client_w))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        client_w.close()
        up_w.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--user", action="append", default=[], help="NAME:PASSWORD")
    args = ap.parse_args()
    users = dict(u.split(":", 1) for u in args.user)
    scram_info = {(m, name): ScramMechanism(m).make_auth_info(pw, iteration_count=4096)
                  for m in MECHANISMS[1:] for name, pw in users.items()}
    host, port = args.upstream.rsplit(":", 1)
    server = await asyncio.start_server(lambda r, w: serve(r, w, (host, int(port)), users, scram_info), "127.0.0.1", args.listen)
    print("kafka-sasl-gateway on 127.0.0.1:%d -> %s" % (args.listen, args.upstream), file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
