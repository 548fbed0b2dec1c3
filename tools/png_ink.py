#!/usr/bin/env python3
"""png_ink.py FILE.png: is a screenshot blank? Decodes the PNG with the standard library only (zlib),
prints the share of pixels that are not white and the pixels of the report's blue (its first curve),
and exits 1 if either is too small. Handles what browsers write: 8-bit RGB or RGBA, not interlaced."""
import struct, sys, zlib

def decode(path):  # -> width, height, channels, rows of bytes
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    pos, idat, head = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = head
    if depth != 8 or colour not in (2, 6) or interlace:
        sys.exit(f"{path}: bit depth {depth}, colour type {colour}, interlace {interlace}: not handled")
    ch = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(b"".join(idat)), width * ch, [], bytearray(width * ch)
    for y in range(height):  # undo the per-row filters (PNG spec, section 9)
        f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(ch, stride): row[i] = (row[i] + row[i - ch]) & 255
        elif f == 2:
            row = bytearray((a + b) & 255 for a, b in zip(row, prev))
        elif f == 3:
            for i in range(stride): row[i] = (row[i] + ((row[i - ch] if i >= ch else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a, b, c = (row[i - ch] if i >= ch else 0), prev[i], (prev[i - ch] if i >= ch else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(row)
        prev = row
    return width, height, ch, rows

width, height, ch, rows = decode(sys.argv[1])
ink = blue = 0
for row in rows:
    for i in range(0, width * ch, ch):
        r, g, b = row[i], row[i + 1], row[i + 2]
        ink += r < 240 or g < 240 or b < 240
        blue += abs(r - 0x1f) < 40 and abs(g - 0x6f) < 40 and abs(b - 0xb4) < 40
share = ink / (width * height)
print(f"{sys.argv[1]}: {width}x{height}, {share:.1%} of the pixels not white, {blue} of the first curve's blue")
sys.exit(0 if share > 0.02 and blue > 100 else 1)
