#!/usr/bin/env python3
"""Writes fuzz/corpus/<target>/ seeds from this project's own fixtures.

Logs come from format/tests/data/golden-v1.stlog and samples/api-mix.stlog
(the first 64 KiB, the fuzz input bound); requests, responses, targets,
thresholds and units are those the project's tests use; frames are built
here byte by byte (Ethernet/IPv4/TCP and the other link headers the
decoder supports). Run from the repository root: python3 fuzz/seeds.py
"""
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody",
    b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
    b"GET /a HTTP/1.1\nHost: captured:80\nX-Tenant: a\nAccept: */*\n\n",
    b"GET /esc\x1b[31mRED HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /f HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n b\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n\r\n",
    b"\r\nGET /lead HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"PUT /c HTTP/1.1\r\nHost: [::1]:8080\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
]
# Requests the --rewrite-uri rules and --remove-header names match.
EDIT_REQUESTS = [
    b"GET /api/items?page=2 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nCookie: s=1\r\n\r\n",
    b"GET http://h.example/api/aaa?x HTTP/1.1\r\nCookie: a\r\ncookie: b\r\n\r\n",
    b"GET ?only-query HTTP/1.1\r\nX-Shadow: 0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
]


def http1():
    for i, r in enumerate(REQUESTS):
        put("http1", f"req-{i}", bytes([0, 0]) + r)
        put("http1", f"req-{i}-split", bytes([0x28, 3, 5, 7, 11]) + r)
    for i, r in enumerate(RESPONSES):
        put("http1", f"resp-{i}", bytes([1, 0]) + r)
        put("http1", f"resp-{i}-head", bytes([3, 1, 9]) + r)


def logs():
    for name, path in [
        ("golden", "format/tests/data/golden-v1.stlog"),
        ("api-mix", "samples/api-mix.stlog"),
    ]:
        data = open(os.path.join(ROOT, path), "rb").read()[: 1 << 16]
        put("stlog_read", name, b"\x00" + data)
        put("stlog_read", name + "-salvage", b"\x01" + data)
    golden = open(os.path.join(ROOT, "format/tests/data/golden-v1.stlog"), "rb").read()
    put("stlog_read", "golden-torn", b"\x00" + golden[: len(golden) * 2 // 3])
    damaged = bytearray(golden)
    damaged[len(golden) // 2] ^= 0xFF
    put("stlog_read", "golden-damaged-salvage", b"\x01" + bytes(damaged))


def gor():
    """GoReplay files: the golden ones of cli/tests/data/convert/, whole and
    cut short, and a few made here (a reused id, a bad meta line, CRs)."""
    sep = "\n\U0001F435\U0001F648\U0001F649\n".encode()
    for name in ("goreplay.gor", "from-jsonl.gor"):
        data = open(os.path.join(ROOT, "cli/tests/data/convert", name), "rb").read()
        stem = name[: -len(".gor")]
        put("gor_read", stem, data)
        put("gor_read", stem + "-torn", data[: len(data) * 2 // 3])
    made = [
        ("reused-id", [b"1 a 1\nGET /1 HTTP/1.1\r\n\r\n", b"1 a 2\nGET /2 HTTP/1.1\r\n\r\n",
                       b"2 a 3 2\n" + RESPONSES[0], b"2 a 4\n" + RESPONSES[1], b"2 a 5 1\n" + RESPONSES[0]]),
        ("replayed", [b"1 b 1 -1\n" + REQUESTS[1], b"3 b 2 1\n" + RESPONSES[2], b"2 b 3 2\n" + RESPONSES[4]]),
        ("bad-meta", [b"1 c 1\n" + REQUESTS[0], b"1 c x\n" + REQUESTS[0]]),
        ("crlf-meta", [b"1 d 10 -1\r\n" + REQUESTS[3], b"2 d 5 -1\r\n" + RESPONSES[3]]),
    ]
    for name, payloads in made:
        put("gor_read", name, b"".join(p + sep for p in payloads))


def csum(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack(f"!{len(b)//2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def tcp(src, dst, sport, dport, seq, ack, flags, payload, v6=False):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    if v6:
        ip = struct.pack("!IHBB", 6 << 28, len(t), 6, 64) + src + dst
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(t), 1, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + t


C4, S4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
C6, S6 = bytes(15) + b"\x01", bytes(15) + b"\x02"
ETH = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"


def link(kind, ip, v6=False):
    et = b"\x86\xdd" if v6 else b"\x08\x00"
    fam = 30 if v6 else 2
    return {
        0: ETH + et + ip,
        1: struct.pack("<I", fam) + ip,
        2: struct.pack("!I", fam) + ip,
        3: ip,
        4: ip,
        5: ip,
        6: struct.pack("!HHH8s", 0, 1, 6, b"\x02" * 6 + b"\0\0") + et + ip,
        7: et + b"\0\0" + struct.pack("!I", 2) + struct.pack("!HBB8s", 1, 0, 6, b"\x02" * 6 + b"\0\0") + ip,
    }[kind]


def decode():
    req = REQUESTS[1]
    for kind in range(8):
        v6 = kind == 5
        ip = tcp(C6 if v6 else C4, S6 if v6 else S4, 40000, 80, 1001, 5001, 0x18, req, v6)
        put("decode", f"link-{kind}", bytes([kind]) + link(kind, ip, v6))
        put("decode", f"link-{kind}-cut", bytes([kind | 8]) + link(kind, ip, v6)[:60])
        if kind in (0, 3):
            ip6 = tcp(C6, S6, 40000, 80, 1, 0, 0x02, b"", True)
            put("decode", f"link-{kind}-v6", bytes([kind]) + link(kind, ip6, True))
    vlan = ETH + b"\x81\x00\x00\x05\x08\x00" + tcp(C4, S4, 1, 80, 1, 0, 0x02, b"")
    put("decode", "vlan", b"\x00" + vlan)
    ip = tcp(C4, S4, 40000, 80, 1001, 5001, 0x18, req)
    for name, (settings, frame) in tunnels(ip).items():
        put("decode", f"tunnel-{name}", bytes([settings]) + frame)


def ip4(proto, payload, src=bytes([192, 0, 2, 1]), dst=bytes([192, 0, 2, 2])):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 7, 0x4000, 64, proto, 0, src, dst)
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + payload


def udp4(dport, payload):
    return ip4(17, struct.pack("!HHHH", 49153, dport, 8 + len(payload), 0) + payload)


# Each tunnel or mirror framing around an IPv4 packet `ip`, as the frame of
# a link type: (settings bits of the link type, frame). Bank two of the
# link types (bit 7): 1 PPP, 3 Cisco HDLC, 4 NFLOG.
def tunnels(ip):
    inner = ETH + b"\x08\x00" + ip
    label = lambda l, s: struct.pack("!I", l << 12 | s << 8 | 64)
    nflog_tlv = struct.pack("<HH", 4 + len(ip), 9) + ip
    nflog_tlv += bytes(-len(nflog_tlv) % 4)
    return {
        "vxlan": (0, ETH + b"\x08\x00" + udp4(4789, b"\x08\0\0\0\0\0\x2a\0" + inner)),
        "geneve": (0, ETH + b"\x08\x00" + udp4(6081, b"\x00\x00\x65\x58\0\0\x2a\0" + inner)),
        "gre-teb": (0, ETH + b"\x08\x00" + ip4(47, b"\x00\x00\x65\x58" + inner)),
        "gre-key-seq": (0, ETH + b"\x08\x00" + ip4(47, b"\x30\x00\x08\x00" + b"\0\0\0\x07" + b"\0\0\0\x01" + ip)),
        "erspan2": (0, ETH + b"\x08\x00" + ip4(47, b"\x10\x00\x88\xbe" + b"\0\0\0\x01" + b"\x10\x2a\0\0\0\0\0\0" + inner)),
        "mpls3": (0, ETH + b"\x88\x47" + label(16, 0) + label(17, 0) + label(18, 1) + ip),
        "ipip": (0, ETH + b"\x08\x00" + ip4(4, ip)),
        "vlan-vxlan-vlan": (0, ETH + b"\x81\x00\x00\x05\x08\x00" + udp4(4789, b"\x08\0\0\0\0\0\x2a\0" + ETH + b"\x81\x00\x00\x07\x08\x00" + ip)),
        "pppoe": (0, ETH + b"\x88\x64" + struct.pack("!BBHH", 0x11, 0, 1, 2 + len(ip)) + b"\x00\x21" + ip),
        "ppp": (0x81, b"\xff\x03\x00\x21" + ip),
        "chdlc": (0x83, b"\x0f\x00\x08\x00" + ip),
        "nflog": (0x84, b"\x02\x00\x00\x00" + nflog_tlv),
    }


def conversation(kind, req, resp, v6=False):
    c, s = (C6, S6) if v6 else (C4, S4)
    cs, ss = 1000, 5000
    frames = []

    def f(from_client, seq, ack, flags, payload=b""):
        a, b, pa, pb = (c, s, 40000, 80) if from_client else (s, c, 80, 40000)
        frames.append(link(kind, tcp(a, b, pa, pb, seq, ack, flags, payload, v6), v6))

    f(True, cs, 0, 0x02)
    f(False, ss, cs + 1, 0x12)
    f(True, cs + 1, ss + 1, 0x10)
    f(True, cs + 1, ss + 1, 0x18, req)
    f(False, ss + 1, cs + 1 + len(req), 0x18, resp)
    f(True, cs + 1 + len(req), ss + 1 + len(resp), 0x11)
    f(False, ss + 1 + len(resp), cs + 2 + len(req), 0x11)
    f(True, cs + 2 + len(req), ss + 2 + len(resp), 0x10)
    return frames


def frames_input(settings, frames, order=None, flags=None):
    out = bytes([settings, 64])
    order = order or range(len(frames))
    for i in order:
        fl = (flags or {}).get(i, 0)
        out += struct.pack("<HBB", len(frames[i]), 1, fl) + frames[i]
    return out


def pipeline():
    for kind in range(8):
        v6 = kind == 5
        fr = conversation(kind, REQUESTS[1], RESPONSES[0], v6)
        put("pipeline", f"conv-{kind}", frames_input(kind | 8, fr))
    fr = conversation(0, REQUESTS[2], RESPONSES[4])
    put("pipeline", "chunked-any-port", frames_input(0, fr))
    put("pipeline", "reordered", frames_input(8, fr, [0, 1, 2, 4, 3, 5, 6, 7], {3: 1}))
    put("pipeline", "requests-only", frames_input(0x18, fr))
    # The same conversation inside each tunnel (ports filtered inside).
    plain = conversation(3, REQUESTS[1], RESPONSES[0])
    for name in ("vxlan", "gre-key-seq", "mpls3", "nflog"):
        settings = tunnels(plain[0])[name][0]
        wrapped = [tunnels(f)[name][1] for f in plain]
        put("pipeline", f"tunnel-{name}", frames_input(settings | 8, wrapped))


def rewrite():
    for i, r in enumerate(REQUESTS):
        put("rewrite", f"req-{i}", b"\x00" + r)
        put("rewrite", f"req-{i}-keep", b"\x05" + r)
        put("rewrite", f"req-{i}-extra", b"\x3a" + r)
        # Bit 6: an edit byte follows (every rule, every removal, a prefix).
        put("rewrite", f"req-{i}-edits", b"\x40\x7f" + r)
        put("rewrite", f"req-{i}-edits-extra", b"\x7a\xbf" + r)
    for i, r in enumerate(EDIT_REQUESTS):
        put("rewrite", f"edit-{i}", b"\x40\xff" + r)


def text_targets():
    for i, t in enumerate([
        "http://127.0.0.1:8080", "https://example.com/", "HTTP://[::1]:9000",
        "http://[::1]", "ftp://x", "http://a:0", "http://a/b", "http://user@a",
    ]):
        put("target", f"t-{i}", t.encode())
    for i, t in enumerate([
        "p(50) <= 20ms", "p(99.9)<1s", "avg<100ms", "max<2s", "error_rate<1%",
        "error_rate<0.01", "rate>=900/s", "rate>=600/m", "lag_p99<5ms", "p9999<1s",
        "errors<10", "latncy<1s", "p(99)<1q",
    ]):
        put("threshold", f"t-{i}", t.encode())
    seeds = [
        (0, "500ms"), (0, "1h 30m"), (0, "10s"), (0, "-1s"), (0, "2m 3s 4ms 5us 6ns"),
        (1, "4096"), (1, "64KiB"), (1, "1MiB"), (1, "100MB"), (1, "1.5 GB"),
        (2, "42"), (2, "-5"), (2, "18446744073709551615"),
        (3, "none"), (3, "zstd"), (3, "zstd:-5"), (3, "zstd:19"),
    ]
    for i, (w, s) in enumerate(seeds):
        put("units", f"u-{i}", bytes([w]) + s.encode())


def compare():
    """Response pairs: JSON, gzip and chunked, forms, text, rule texts."""
    import gzip
    import zlib

    def resp(fields, body, status=200):
        head = f"HTTP/1.1 {status} X\r\n{fields}Content-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    j = "Content-Type: application/json\r\n"
    a = b'{"id":1,"items":[{"n":1},{"n":2}],"ts":"2026-12-06T10:00:00Z","price":10.50}'
    b = b'{"id":1,"items":[{"n":2},{"n":1}],"ts":"2026-12-06T10:00:05Z","price":10.5,"x":true}'
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n"
    pairs = [
        (0, resp(j, a), resp(j, b)),
        (0, resp(j, a), resp(j + "Content-Encoding: gzip\r\n", gzip.compress(b, mtime=0))),
        (0, resp(j, a), resp(j + "Content-Encoding: deflate\r\n", zlib.compress(b))),
        (1, resp(j, a), chunked),
        (2, resp(j, a), resp("Date: Sun, 06 Dec 2026 10:00:00 GMT\r\nX-A: 1\r\n" + j, a, 500)),
        (0, resp("Content-Type: application/x-www-form-urlencoded\r\n", b"a=1&b=x+y&a=%41"),
         resp("Content-Type: application/x-www-form-urlencoded\r\n", b"b=x+y&a=1")),
        (8, resp("Content-Type: text/plain\r\n", b"one\ntwo\n"), resp("Content-Type: text/plain\r\n", b"one\n2\n")),
        (6, b"json:/items/*/n\n~^v\\d+$\nheader:x-*\njson:/p within=1%", b"GET /api/items/123?b=1&a=2"),
        (0, a, b"[1,2,3]"),
    ]
    for i, (settings, x, y) in enumerate(pairs):
        put("compare", f"pair-{i}", bytes([settings]) + x + b"\xff" + y)


http1()
logs()
decode()
pipeline()
rewrite()
text_targets()
compare()
gor()


def regressions():
    """Inputs of the bugs fuzz/README.md lists, kept in fuzz/regressions/."""
    global OUT
    OUT = os.path.join(ROOT, "fuzz", "regressions")
    put("rewrite", "leading-empty-lines-host-before-request-line",
        b"\x00\r\nGET /a HTTP/1.1\r\nAccept: */*\r\n\r\n")
    put("rewrite", "rewrite-uri-shorter-line-host-inserted-past-its-end",
        b"\x40\xff" + EDIT_REQUESTS[1])
    req = REQUESTS[1]
    fr = conversation(0, req, RESPONSES[0])
    head, tail = req[:20], req[20:]
    c, s = C4, S4
    seg_tail = link(0, tcp(c, s, 40000, 80, 1001 + len(head), 5001, 0x18, tail))
    seg_head = link(0, tcp(c, s, 40000, 80, 1001, 5001, 0x18, head))
    frames = fr[:3] + [seg_tail, seg_head] + fr[4:]
    put("pipeline", "out-of-order-request-ends-before-it-starts", frames_input(8, frames))
    sep = "\n\U0001F435\U0001F648\U0001F649\n".encode()
    put("gor_read", "latency-past-i64-max-did-not-read-back",
        b"1 a 1 -1\nGET / HTTP/1.1\r\n\r\n" + sep
        + b"2 a 18000000000000000000\nHTTP/1.1 200 OK\r\n\r\n" + sep)


regressions()
