#!/usr/bin/env python3
"""Writes a token file in the .bin layout llm.c and nanoGPT write (a header
of 256 little-endian int32: magic 20240520, version 1, token count; then
the ids as little-endian uint16), for the tests and the fuzz corpus: no
network, no numpy. Faults on request, to check the reader refuses them:

  make_tokens.py OUT [--ids 1,2,3 | --count-ids N --modulo V]
                 [--magic M] [--version V] [--count C] [--cut BYTES] [--extra BYTES]

--count overrides the header's count (the ids written stay as given),
--cut drops that many bytes from the end, --extra appends zero bytes.
"""
import argparse
import struct
import sys


def token_file(ids, magic=20240520, version=1, count=None):
    header = [0] * 256
    header[0], header[1] = magic, version
    header[2] = len(ids) if count is None else count
    return struct.pack("<256i", *header) + struct.pack("<%dH" % len(ids), *ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--ids", help="comma-separated token ids")
    ap.add_argument("--count-ids", type=int, default=0, help="ids 0, 7, 14, ... modulo --modulo")
    ap.add_argument("--modulo", type=int, default=256)
    ap.add_argument("--magic", type=int, default=20240520)
    ap.add_argument("--version", type=int, default=1)
    ap.add_argument("--count", type=int)
    ap.add_argument("--cut", type=int, default=0)
    ap.add_argument("--extra", type=int, default=0)
    a = ap.parse_args()
    ids = [int(t) for t in a.ids.split(",")] if a.ids else [(7 * i) % a.modulo for i in range(a.count_ids)]
    data = token_file(ids, a.magic, a.version, a.count)
    if a.cut:
        data = data[: len(data) - a.cut]
    data += b"\0" * a.extra
    with open(a.out, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
