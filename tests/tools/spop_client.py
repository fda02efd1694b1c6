#!/usr/bin/python3
"""A raw SPOP peer (plays HAProxy) for the fault and abuse tests (tests/integ/8x-*.sh).

    /usr/bin/python3 tests/tools/spop_client.py --port PORT COMMAND [options]

Commands (each bounded in time; results on stdout as "key=value" words, one line per case):
  abuse                 every protocol-abuse case; one line per case:
                          case=NAME status=N|none closed=yes|no acks=N
  garbage --count N     N connections sending random bytes (half after a HELLO), then shutdown:
                          garbage count=N ended=N disconnects=N statuses=CODE:N,...
  storm --conns N       N connections opened at once, HELLO on each, AGENT-HELLO read, closed:
                          storm conns=N connected=N hello_ok=N seconds=S
  halfopen              connections that send part of a HELLO then shut down the write side, and
                        one that connects and says nothing: half_open_closed=N idle_open=yes|no
  slowloris --seconds S one byte of a HELLO per second for S seconds: slowloris sent=N open=yes|no
  noread --seconds S    HELLO, then NOTIFYs as fast as the socket takes them, never reading; holds
                        the connection until --stop-file exists (or --hold seconds):
                          noread notifies=N bytes=N
  idle --conns N        N plain TCP connections (no byte sent) held until --stop-file exists or
                        --hold seconds: idle opened=N (written to --ready-file when all are open)
  drain --token T --count N
                        HELLO, N NOTIFYs with token T, touches --ready-file, then reads every frame
                        until EOF: drain acks=N valid=N disconnect=STATUS eof=yes|no
                        acks_after_disconnect=N first_ack_ts=UNIX_TIME
  check --token T       HELLO + one NOTIFY: check valid=true|false|none status=... message=...
Standard library only. Frame layouts: ../../shared/notes/spop.md §2.
"""

import argparse
import os
import random
import select
import socket
import struct
import sys
import time

FIN = 1
T_HELLO, T_HDISC, T_NOTIFY = 1, 2, 3
T_AHELLO, T_ADISC, T_ACK = 101, 102, 103


# ---------------------------------------------------------------- encoding

def varint(v):
    if v < 240:
        return bytes([v])
    out = [(v & 0xFF) | 0xF0]
    v = (v - 240) >> 4
    while v >= 128:
        out.append((v & 0xFF) | 0x80)
        v = (v - 128) >> 7
    out.append(v)
    return bytes(out)


def sstr(s):
    if isinstance(s, str):
        s = s.encode()
    return varint(len(s)) + s


def t_str(s):
    return b"\x08" + sstr(s)


def t_uint(v):
    return b"\x03" + varint(v)


def t_bool(b):
    return b"\x11" if b else b"\x01"


def frame(ftype, payload=b"", flags=FIN, sid=0, fid=0, length=None):
    body = bytes([ftype]) + struct.pack(">I", flags) + varint(sid) + varint(fid) + payload
    return struct.pack(">I", len(body) if length is None else length) + body


def hello(versions="2.0", mfs=16380, caps="pipelining", healthcheck=False, flags=FIN, omit=()):
    items = []
    if "supported-versions" not in omit:
        items.append(sstr("supported-versions") + t_str(versions))
    if "max-frame-size" not in omit:
        items.append(sstr("max-frame-size") + t_uint(mfs))
    if "capabilities" not in omit:
        items.append(sstr("capabilities") + t_str(caps))
    if healthcheck:
        items.append(sstr("healthcheck") + t_bool(True))
    return frame(T_HELLO, b"".join(items), flags=flags)


def notify(sid, fid, token, header="authorization", flags=FIN, msg="check-jwt", provider="default"):
    args = [sstr("provider") + t_str(provider)]
    if token is None:
        args.append(sstr(header) + b"\x00")
    else:
        args.append(sstr(header) + t_str("Bearer " + token))
    payload = sstr(msg) + bytes([len(args)]) + b"".join(args)
    return frame(T_NOTIFY, payload, flags=flags, sid=sid, fid=fid)


def notify_of_length(n):
    """A well-formed NOTIFY whose FRAME-LENGTH is exactly <n> (its token is junk)."""
    base = len(notify(1, 1, "")) - 4
    for extra in range(n - base, n - base - 8, -1):
        f = notify(1, 1, "a" * extra)
        if len(f) - 4 == n:
            return f
    raise ValueError("no NOTIFY of length %d" % n)


def haproxy_disconnect(status=0, message="normal"):
    return frame(T_HDISC, sstr("status-code") + t_uint(status) + sstr("message") + t_str(message))


# ---------------------------------------------------------------- decoding

def get_varint(b, i):
    v = b[i]
    i += 1
    if v < 240:
        return v, i
    shift = 4
    while True:
        c = b[i]
        i += 1
        v += c << shift
        shift += 7
        if c < 128:
            return v, i


def get_str(b, i):
    n, i = get_varint(b, i)
    return b[i:i + n], i + n


def get_typed(b, i):
    t = b[i] & 0x0F
    fl = b[i] >> 4
    i += 1
    if t == 0:
        return None, i
    if t == 1:
        return bool(fl & 1), i
    if t in (2, 3, 4, 5):
        return get_varint(b, i)
    if t == 6:
        return b[i:i + 4], i + 4
    if t == 7:
        return b[i:i + 16], i + 16
    if t in (8, 9):
        s, i = get_str(b, i)
        return s.decode("utf-8", "replace"), i
    raise ValueError("bad type %d" % t)


def parse_frame(body):
    ftype = body[0]
    flags = struct.unpack(">I", body[1:5])[0]
    sid, i = get_varint(body, 5)
    fid, i = get_varint(body, i)
    return ftype, flags, sid, fid, body[i:]


def parse_kv(p):
    out, i = {}, 0
    while i < len(p):
        k, i = get_str(p, i)
        v, i = get_typed(p, i)
        out[k.decode()] = v
    return out


def parse_actions(p):
    out, i = {}, 0
    while i < len(p):
        atype, nargs = p[i], p[i + 1]
        i += 3  # type, nb-args, scope
        name, i = get_str(p, i)
        if atype == 1 and nargs == 3:
            v, i = get_typed(p, i)
            out[name.decode()] = v
    return out


class Peer:
    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.s.sendall(data)

    def read_frame(self, deadline):
        """One frame (type, flags, sid, fid, payload), or None on EOF/reset/timeout."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return parse_frame(body)
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                self.eof = True
                return None
            if not d:
                self.eof = True
                return None
            self.buf += d

    def wait_eof(self, deadline):
        while not self.eof and time.monotonic() < deadline:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                self.eof = True
                break
            if not d:
                self.eof = True
            else:
                self.buf += d
        return self.eof

    def handshake(self, mfs=16380):
        self.send(hello(mfs=mfs))
        f = self.read_frame(time.monotonic() + 5)
        if not f or f[0] != T_AHELLO:
            raise RuntimeError("no AGENT-HELLO: %r" % (f,))
        return parse_kv(f[4])

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---------------------------------------------------------------- commands

def run_case(port, name, steps, expect_ack_token=None):
    """Sends <steps> (bytes, or "hello" for a proper handshake first), then reads frames until
    an AGENT-DISCONNECT or EOF (1.5 s, then 1.5 s more for the close). Prints case=... status=... closed=... acks=..."""
    p = Peer(port)
    status, acks = "none", 0
    try:
        for st in steps:
            if st == "hello":
                p.handshake()
            elif st == "shutdown":
                p.s.shutdown(socket.SHUT_WR)
            elif isinstance(st, tuple) and st[0] == "sleep":
                time.sleep(st[1])
            else:
                try:
                    p.send(st)
                except OSError:
                    break
        deadline = time.monotonic() + 1.5
        while True:
            f = p.read_frame(deadline)
            if f is None:
                break
            if f[0] == T_ACK:
                acks += 1
            if f[0] == T_ADISC:
                kv = parse_kv(f[4])
                status = str(kv.get("status-code"))
                break
        closed = p.wait_eof(time.monotonic() + 1.5)
    finally:
        p.close()
    print("case=%s status=%s closed=%s acks=%d" % (name, status, "yes" if closed else "no", acks))
    sys.stdout.flush()


def cmd_abuse(a):
    rnd = random.Random(a.seed)
    tok = a.token or "x.y.z"
    nf = notify(1, 1, tok)
    cases = [
        # name, steps
        ("random_bytes", [bytes(rnd.getrandbits(8) for _ in range(4096))]),
        ("random_bytes_after_hello", ["hello", bytes(rnd.getrandbits(8) for _ in range(4096))]),
        ("http_get", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]),
        ("len_4GiB", [b"\xff\xff\xff\xff" + b"\x01" * 64]),
        ("len_4GiB_after_hello", ["hello", b"\xff\xff\xff\xff" + b"\x03" * 64]),
        ("len_16381_after_hello", ["hello", frame(T_NOTIFY, b"\x00" * (16381 - 7), sid=1, fid=1)]),
        ("len_16381_header_only", ["hello", struct.pack(">I", 16381) + b"\x03\x00\x00\x00\x01\x01\x01"]),
        ("len_16380_ok", ["hello", notify_of_length(16380), nf]),
        ("len_1025_after_hello_1024", [hello(mfs=1024), ("sleep", 0.2),
                                       frame(T_NOTIFY, b"\x00" * (1025 - 7), sid=1, fid=1)]),
        ("len_below_7", [struct.pack(">I", 3) + b"\x01\x00\x00"]),
        ("len_zero", ["hello", struct.pack(">I", 0)]),
        ("unknown_type_fin", ["hello", frame(50, b"junk", sid=1, fid=1), frame(200, b""), nf]),
        ("unknown_type_no_fin", ["hello", frame(50, b"junk", flags=0, sid=1, fid=1)]),
        ("unset_type_fin", ["hello", frame(0, b"junk", sid=1, fid=1)]),
        ("notify_before_hello", [nf]),
        ("ack_type_before_hello", [frame(T_ACK, b"", sid=1, fid=1)]),
        ("hello_version_1_0", [hello(versions="1.0")]),
        ("hello_version_3_5", [hello(versions="3.5, 1.0")]),
        ("hello_no_versions", [hello(omit=("supported-versions",))]),
        ("hello_no_max_frame_size", [hello(omit=("max-frame-size",))]),
        ("hello_max_frame_size_100", [hello(mfs=100)]),
        ("hello_no_fin", [hello(flags=0)]),
        ("hello_bad_ids", [frame(T_HELLO, hello()[11:], sid=1, fid=0)]),
        ("hello_truncated_kv", [frame(T_HELLO, sstr("supported-versions") + b"\x08\x09" + b"2.0")]),
        ("second_hello", ["hello", hello()]),
        ("notify_no_fin", ["hello", notify(1, 1, tok, flags=0)]),
        ("notify_fragmented", ["hello", notify(1, 1, tok, flags=0), frame(0, b"rest", sid=1, fid=1)]),
        ("notify_abort_only", ["hello", notify(1, 1, tok, flags=2)]),
        ("notify_truncated_payload", ["hello", frame(T_NOTIFY, sstr("check-jwt") + b"\x02" + sstr("provider")
                                                     + b"\x08\x40abc", sid=1, fid=1)]),
        ("notify_bad_varint", ["hello", frame(T_NOTIFY, b"\xff" * 12, sid=1, fid=1)]),
        ("notify_other_message", ["hello", notify(1, 1, tok, msg="not-ours"), nf]),
        ("haproxy_disconnect", ["hello", haproxy_disconnect(0)]),
        ("eof_mid_frame", ["hello", nf[:20], "shutdown"]),
    ]
    only = set(a.only.split(",")) if a.only else None
    for name, steps in cases:
        if only and name not in only:
            continue
        try:
            run_case(a.port, name, steps)
        except Exception as e:  # noqa: BLE001 - report, never stop the run
            print("case=%s status=error closed=error acks=0 error=%s" % (name, str(e).replace(" ", "_")))


def cmd_garbage(a):
    """--count connections of random bytes (random length, half of them after a HELLO), then
    shutdown(SHUT_WR): every connection must end (EOF) within 3 s."""
    rnd = random.Random(a.seed)
    ended = disc = 0
    statuses = {}
    for i in range(a.count):
        p = Peer(a.port)
        try:
            if i % 2:
                p.handshake()
            data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
            if i % 3 == 0 and len(data) > 8:  # a plausible length prefix, garbage after it
                data = struct.pack(">I", rnd.randint(0, 400)) + data[4:]
            try:
                p.send(data)
                p.s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            deadline = time.monotonic() + 3
            while True:
                f = p.read_frame(deadline)
                if f is None:
                    break
                if f[0] == T_ADISC:
                    disc += 1
                    st = parse_kv(f[4]).get("status-code")
                    statuses[st] = statuses.get(st, 0) + 1
            if p.wait_eof(deadline):
                ended += 1
        finally:
            p.close()
    print("garbage count=%d ended=%d disconnects=%d statuses=%s" % (
        a.count, ended, disc, ",".join("%s:%d" % kv for kv in sorted(statuses.items()))))


def cmd_storm(a):
    t0 = time.monotonic()
    socks, connected = [], 0
    for _ in range(a.conns):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", a.port))
        except BlockingIOError:
            pass
        socks.append(s)
    # Wait until writable (connected), send HELLO, then read AGENT-HELLO on each.
    pending = {s.fileno(): s for s in socks}
    bufs = {s.fileno(): b"" for s in socks}
    state = {s.fileno(): "connecting" for s in socks}
    ok = 0
    deadline = time.monotonic() + a.timeout
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLOUT)
    hello_b = hello()
    while pending and time.monotonic() < deadline:
        for fd, ev in poller.poll(200):
            s = pending.get(fd)
            if s is None:
                continue
            if state[fd] == "connecting":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0 or ev & (select.POLLERR | select.POLLHUP):
                    poller.unregister(fd)
                    del pending[fd]
                    continue
                connected += 1
                try:
                    s.send(hello_b)
                except OSError:
                    poller.unregister(fd)
                    del pending[fd]
                    continue
                state[fd] = "hello"
                poller.modify(fd, select.POLLIN)
                continue
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if d:
                bufs[fd] += d
                b = bufs[fd]
                if len(b) >= 4 and len(b) >= 4 + struct.unpack(">I", b[:4])[0]:
                    if b[4] == T_AHELLO:
                        ok += 1
                    poller.unregister(fd)
                    del pending[fd]
            else:
                poller.unregister(fd)
                del pending[fd]
    for s in socks:
        s.close()
    print("storm conns=%d connected=%d hello_ok=%d seconds=%.2f" % (a.conns, connected, ok, time.monotonic() - t0))


def cmd_halfopen(a):
    closed = 0
    n = 5
    for i in range(n):
        p = Peer(a.port)
        p.send(hello()[: 3 + 5 * i])  # part of a HELLO (3..23 bytes)
        p.s.shutdown(socket.SHUT_WR)
        if p.wait_eof(time.monotonic() + 3):
            closed += 1
        p.close()
    # A connection that never sends anything stays open (HAProxy closes idle ones, not us).
    idle = Peer(a.port)
    time.sleep(a.idle_seconds)
    idle_open = not idle.wait_eof(time.monotonic() + 0.2)
    # ... and still answers a HELLO afterwards.
    try:
        idle.handshake()
        late_hello = "yes"
    except Exception:  # noqa: BLE001
        late_hello = "no"
    idle.close()
    print("halfopen half_open=%d half_open_closed=%d idle_open=%s idle_then_hello=%s"
          % (n, closed, "yes" if idle_open else "no", late_hello))


def cmd_slowloris(a):
    p = Peer(a.port)
    data = hello()
    sent = 0
    t_end = time.monotonic() + a.seconds
    while time.monotonic() < t_end and sent < len(data):
        p.send(data[sent:sent + 1])
        sent += 1
        time.sleep(1.0)
    still_open = not p.wait_eof(time.monotonic() + 0.2)
    # Finish the HELLO: the agent must still answer it.
    p.send(data[sent:])
    f = p.read_frame(time.monotonic() + 3)
    p.close()
    print("slowloris sent=%d open=%s hello_after=%s" % (sent, "yes" if still_open else "no",
                                                         "yes" if f and f[0] == T_AHELLO else "no"))


def wait_stop(a):
    t_end = time.monotonic() + a.hold
    while time.monotonic() < t_end:
        if a.stop_file and os.path.exists(a.stop_file):
            return
        time.sleep(0.1)


def touch(path, text=""):
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)


def cmd_noread(a):
    p = Peer(a.port)
    p.handshake()
    p.s.setblocking(False)
    sid, sent_bytes, n = 0, 0, 0
    t_end = time.monotonic() + a.seconds
    pending = b""
    while time.monotonic() < t_end:
        if not pending:
            sid += 1
            pending = notify(sid, 1, a.token)
        try:
            k = p.s.send(pending)
        except BlockingIOError:
            select.select([], [p.s], [], 0.1)
            continue
        except OSError:
            break
        sent_bytes += k
        pending = pending[k:]
        if not pending:
            n += 1
    print("noread notifies=%d bytes=%d" % (n, sent_bytes))
    sys.stdout.flush()
    touch(a.ready_file, "%d\n" % n)
    wait_stop(a)
    p.close()


def cmd_idle(a):
    socks = []
    err = ""
    t_end = time.monotonic() + a.timeout
    for _ in range(a.conns):
        if time.monotonic() > t_end:
            err = "timeout"
            break
        try:
            socks.append(socket.create_connection(("127.0.0.1", a.port), timeout=5))
        except OSError as e:
            err = str(e).replace(" ", "_")
            break
    print("idle opened=%d%s" % (len(socks), " error=" + err if err else ""))
    sys.stdout.flush()
    touch(a.ready_file, "%d\n" % len(socks))
    wait_stop(a)
    # How many the agent still holds open (none closed by it while idle).
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            d = s.recv(1)
            alive += 0 if d == b"" else 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    for s in socks:
        s.close()
    print("idle still_open=%d" % alive)


def cmd_drain(a):
    p = Peer(a.port, timeout=10)
    p.handshake()
    for i in range(a.count):
        p.send(notify(i + 1, 1, a.token))
    touch(a.ready_file, "sent\n")
    acks = valid = 0
    first_ack = 0.0
    disc = "none"
    after_disc = 0
    deadline = time.monotonic() + a.timeout
    while True:
        f = p.read_frame(deadline)
        if f is None:
            break
        if f[0] == T_ACK:
            first_ack = first_ack or time.time()
            if disc != "none":
                after_disc += 1
            acks += 1
            if parse_actions(f[4]).get("valid") is True:
                valid += 1
        elif f[0] == T_ADISC:
            disc = str(parse_kv(f[4]).get("status-code"))
    eof = p.wait_eof(deadline)
    p.close()
    print("drain acks=%d valid=%d disconnect=%s eof=%s acks_after_disconnect=%d first_ack_ts=%.3f"
          % (acks, valid, disc, "yes" if eof else "no", after_disc, first_ack))


def cmd_check(a):
    p = Peer(a.port)
    p.handshake()
    p.send(notify(1, 1, a.token))
    f = p.read_frame(time.monotonic() + 5)
    p.close()
    if not f or f[0] != T_ACK:
        print("check valid=none")
        return
    act = parse_actions(f[4])
    print("check valid=%s status=%s message=%s" % (str(act.get("valid")).lower(), act.get("status", "-"),
                                                    str(act.get("message", "-")).replace(" ", "_")))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("command")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--hold", type=float, default=30)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--idle-seconds", type=float, default=1)
    ap.add_argument("--stop-file")
    ap.add_argument("--ready-file")
    ap.add_argument("--token")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--seed", type=int, default=8083)
    ap.add_argument("--only")
    a = ap.parse_args()
    cmds = {"abuse": cmd_abuse, "garbage": cmd_garbage, "storm": cmd_storm, "halfopen": cmd_halfopen, "slowloris": cmd_slowloris,
            "noread": cmd_noread, "idle": cmd_idle, "drain": cmd_drain, "check": cmd_check}
    if a.command not in cmds:
        ap.error("unknown command " + a.command)
    cmds[a.command](a)


if __name__ == "__main__":
    main()
