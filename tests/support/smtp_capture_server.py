#!/usr/bin/python3
"""A capturing SMTP server for the SMTP adapter's integration tests (aiosmtpd).

Accepted messages are written to OUT/<n>.eml (not with --index-only), each with a line in
OUT/index.jsonl that records the envelope, the connection it came over, the time it was
stored, and the message as Python's email package parses it (decoded headers, parts,
defects), so tests check the message with a parser that is not ours. Every connection
opened gets a line in OUT/connections.jsonl, which is how tests see connection reuse.

Faults a relay shows, for the fault matrix: --rcpt-script gives recipients a list of replies
their RCPT TO gets in turn (then 250), --log-rcpts writes every RCPT TO and its reply to
OUT/rcpts.jsonl, and SIGUSR1 makes the server refuse connections (each is reset at once and
counted in OUT/refused.jsonl) until SIGUSR2.

Prints "READY <port>" on stdout once listening (--port 0 picks a free port) and exits
cleanly on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import datetime
import email
import email.policy
import itertools
import json
import logging
import os
import signal
import socket
import ssl
import struct
import sys
import warnings

from aiosmtpd.controller import UnthreadedController
from aiosmtpd.smtp import SMTP, AuthResult


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class Recorder:
    """Numbers connections and messages and writes them to the output directory."""

    def __init__(self, out_dir, index_only=False, log_rcpts=False):
        self.out_dir = out_dir
        self.index_only = index_only
        self.log_rcpts = log_rcpts
        self.refusing = False
        self.live = set()  # the sessions open now, dropped when refusing starts
        os.makedirs(out_dir, exist_ok=True)
        self._connections = itertools.count(1)
        self._messages = itertools.count(1)

    def _append(self, name, record):
        with open(os.path.join(self.out_dir, name), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def connection_opened(self, peer):
        n = next(self._connections)
        self._append("connections.jsonl", {"connection": n, "peer": list(peer or ()),
                                           "time": now_iso()})
        return n

    def refused(self, peer):
        self._append("refused.jsonl", {"peer": list(peer or ()), "time": now_iso()})

    def rcpt(self, address, reply):
        if self.log_rcpts:
            self._append("rcpts.jsonl", {"rcpt": address, "reply": reply, "time": now_iso()})

    def message(self, record, content):
        n = next(self._messages)
        path = None
        if not self.index_only:
            path = os.path.join(self.out_dir, f"{n}.eml")
            # Written whole before the reply goes out, so a test that got its 250 finds it.
            with open(path + ".tmp", "wb") as f:
                f.write(content)
            os.replace(path + ".tmp", path)
        record = dict(record, n=n, file=path, time=now_iso(), parsed=parse(content))
        self._append("index.jsonl", record)
        return n


def parse(content):
    """The message as a standard-library reader sees it: decoded, with its defects."""
    msg = email.message_from_bytes(content, policy=email.policy.default)
    defects = [repr(d) for d in msg.defects]
    headers = {}
    for name in msg.keys():
        value = msg[name]
        defects += [f"{name}: {d!r}" for d in getattr(value, "defects", ())]
        headers[name] = str(value)
    parts = []
    for part in msg.walk():
        defects += [repr(d) for d in part.defects if part is not msg]
        if part.is_multipart():
            continue
        parts.append({"content_type": part.get_content_type(),
                      "charset": part.get_content_charset(),
                      "transfer_encoding": part.get("Content-Transfer-Encoding", ""),
                      "content": part.get_content()})
    return {"headers": headers, "content_type": msg.get_content_type(),
            "parts": parts, "defects": defects}


class CountingSMTP(SMTP):
    """Numbers each connection once (STARTTLS calls connection_made a second time)."""

    def __init__(self, handler, recorder, **kwargs):
        super().__init__(handler, **kwargs)
        self.recorder = recorder
        self.connection_number = None
        self.mail_commands = 0
        self.refused = False

    def connection_made(self, transport):
        if self.recorder.refusing and self.connection_number is None:
            # A relay that is down: the connection is reset before any greeting.
            self.recorder.refused(transport.get_extra_info("peername"))
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.refused = True
            transport.abort()
            return
        super().connection_made(transport)
        self.recorder.live.add(self)
        if self.connection_number is None:
            self.connection_number = self.recorder.connection_opened(self.session.peer)

    def connection_lost(self, error):
        self.recorder.live.discard(self)
        if not self.refused:  # a refused connection never started a session to end
            super().connection_lost(error)


class CaptureController(UnthreadedController):
    def __init__(self, handler, recorder, **kwargs):
        super().__init__(handler, **kwargs)
        self.recorder = recorder

    def factory(self):
        return CountingSMTP(self.handler, self.recorder, **self.SMTP_kwargs)


class CaptureHandler:
    def __init__(self, recorder, fail_rcpt, delay_ms, drop_mail_after, implicit_tls,
                 rcpt_script=None):
        self.recorder = recorder
        self.fail_rcpt = fail_rcpt
        # address -> replies still to give, in order; a recipient whose list ran out is accepted.
        self.rcpt_script = {a.lower(): list(r) for a, r in (rcpt_script or {}).items()}
        self.delay_ms = delay_ms
        self.drop_mail_after = drop_mail_after
        self.implicit_tls = implicit_tls

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        server.mail_commands += 1
        if self.drop_mail_after and server.mail_commands > self.drop_mail_after:
            # Vanish without a reply, as a relay does when it dropped an idle session just
            # as the client reused it. abort(), not close(): nothing more may be written.
            server.transport.abort()
            return "421 4.4.2 never delivered"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.fail_rcpt.get(address.lower())
        scripted = self.rcpt_script.get(address.lower())
        if not reply and scripted:
            reply = scripted.pop(0)
        self.recorder.rcpt(address, reply or "250")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        auth = session.auth_data  # LoginPassword after a successful AUTH PLAIN/LOGIN
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": list(session.peer or ()),
            "connection": server.connection_number,
            "ehlo": session.host_name,
            "tls": self.implicit_tls or session.ssl is not None,
            "login": auth.login.decode() if hasattr(auth, "login") else None,
        }
        n = self.recorder.message(record, envelope.original_content or envelope.content)
        return f"250 2.0.0 Ok: queued as Q{n:06d}"


def fail_rcpt_rule(text):
    """'bounce@example.com=550:5.1.1:No such user' -> ('bounce@...', '550 5.1.1 No such user')"""
    address, sep, reply = text.partition("=")
    code, _, rest = reply.partition(":")
    enhanced, _, words = rest.partition(":")
    if not sep or len(code) != 3 or not code.isdigit():
        raise argparse.ArgumentTypeError("expected ADDR=CODE:ENHANCED:TEXT")
    return address.lower(), " ".join(p for p in (code, enhanced, words) if p)


def server_tls_context(args):
    if not (args.cert and args.key):
        sys.exit("--starttls and --smtps need --cert and --key")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--out", required=True)
    p.add_argument("--starttls", action="store_true", help="offer STARTTLS")
    p.add_argument("--smtps", action="store_true", help="TLS from the first byte")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", metavar="USER:PASS", help="offer AUTH PLAIN/LOGIN, require it")
    p.add_argument("--fail-rcpt", action="append", type=fail_rcpt_rule, default=[],
                   metavar="ADDR=CODE:ENHANCED:TEXT")
    p.add_argument("--delay-ms", type=int, default=0, help="sleep before answering DATA")
    p.add_argument("--drop-mail-after", type=int, default=0, metavar="N",
                   help="drop a connection, unanswered, at its (N+1)th MAIL FROM")
    p.add_argument("--rcpt-script", metavar="FILE",
                   help="JSON {address: [reply, ...]}: the replies its RCPT TO gets in turn,"
                        " e.g. \"451 4.7.1 Try again later\"; then 250")
    p.add_argument("--log-rcpts", action="store_true",
                   help="write every RCPT TO and the reply it got to OUT/rcpts.jsonl")
    p.add_argument("--index-only", action="store_true",
                   help="record messages in index.jsonl only, without an .eml file each"
                        " (tens of thousands of files are slow to write and remove)")
    args = p.parse_args()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    recorder = Recorder(args.out, args.index_only, args.log_rcpts)
    rcpt_script = None
    if args.rcpt_script:
        with open(args.rcpt_script, encoding="utf-8") as f:
            rcpt_script = json.load(f)
    handler = CaptureHandler(recorder, dict(args.fail_rcpt), args.delay_ms,
                             args.drop_mail_after, args.smtps, rcpt_script)
    smtp_kwargs = {"server_hostname": "capture.test", "enable_SMTPUTF8": True}
    if args.smtps:
        smtp_kwargs["ssl_context"] = server_tls_context(args)
    if args.starttls:
        smtp_kwargs["tls_context"] = server_tls_context(args)
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            # handled=False: let aiosmtpd answer "535 5.7.8"; the default sends nothing.
            return AuthResult(success=ok, handled=False, auth_data=auth_data)

        # A test server may ask for AUTH without TLS on purpose; aiosmtpd warns per connection.
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        smtp_kwargs.update(auth_required=True, authenticator=authenticator,
                           # aiosmtpd sees TLS only when it did STARTTLS itself.
                           auth_require_tls=args.starttls)
    controller = CaptureController(handler, recorder, hostname=args.host, port=args.port,
                                   loop=loop, **smtp_kwargs)
    controller.begin()
    port = controller.server.sockets[0].getsockname()[1]
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)

    def set_refusing(on):
        recorder.refusing = on
        if on:
            # A relay that went down takes its open sessions with it.
            for session in list(recorder.live):
                if session.transport is not None:
                    session.transport.abort()
        # Acknowledged in a file, so the test knows from when the fault holds.
        with open(os.path.join(args.out, "refusing"), "w", encoding="utf-8") as f:
            f.write("1" if on else "0")

    loop.add_signal_handler(signal.SIGUSR1, set_refusing, True)
    loop.add_signal_handler(signal.SIGUSR2, set_refusing, False)
    print(f"READY {port}", flush=True)
    loop.run_forever()

    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    controller.end()
    loop.close()


if __name__ == "__main__":
    main()
