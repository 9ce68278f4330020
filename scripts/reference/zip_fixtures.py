"""Zip archives for test/unit/mutation/interop.test.ts, written by Python's own zipfile (stdlib
only): the reader in src/interop/zip.ts is checked against what another implementation wrote.

  python3 scripts/reference/zip_fixtures.py   # writes test/fixtures/zip/*.zip

- plain.zip: one stored and one deflated entry, entry comments, an extra field that is not zip64,
  and an archive comment (so the end record is not the file's last 22 bytes).
- zip64.zip: the same entries with zipfile's zip64 limit lowered to 64 bytes, so every size and
  offset past it goes through zip64 extra fields, the zip64 end record and its locator, and the
  plain end record's fields saturated (as torch writes them for checkpoints past 4 GiB).
The contents are the ENTRIES below; the test states them again.
"""
import os
import struct
import zipfile

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'zip')
ENTRIES = [
    ('archive/data.pkl', zipfile.ZIP_STORED, bytes(range(200))),
    ('archive/data/0', zipfile.ZIP_DEFLATED, b'coca ' * 60),
    ('archive/byteorder', zipfile.ZIP_STORED, b'little'),
]


def write(path: str) -> None:
    with zipfile.ZipFile(path, 'w') as z:
        for name, method, data in ENTRIES:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.comment = b'entry comment ' + name.encode()
            # An extra field of another kind (0xcafe, 3 bytes) before any zip64 one.
            info.extra = struct.pack('<HH', 0xCAFE, 3) + b'xyz'
            z.writestr(info, data)
        z.comment = b'an archive comment'


os.makedirs(OUT, exist_ok=True)
write(os.path.join(OUT, 'plain.zip'))
zipfile.ZIP64_LIMIT = 64
zipfile.ZIP_FILECOUNT_LIMIT = 2
write(os.path.join(OUT, 'zip64.zip'))
# zipfile writes the zip64 end record and locator but keeps the real (small) values in the plain
# end record; torch's writer saturates them, and readers must then take the zip64 ones. Saturate.
path = os.path.join(OUT, 'zip64.zip')
b = bytearray(open(path, 'rb').read())
eocd = b.rfind(b'PK\x05\x06')
struct.pack_into('<HHII', b, eocd + 8, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
open(path, 'wb').write(b)
for f in ('plain.zip', 'zip64.zip'):
    with zipfile.ZipFile(os.path.join(OUT, f)) as z:
        assert [z.read(n) for n, _, _ in ENTRIES] == [d for _, _, d in ENTRIES]
