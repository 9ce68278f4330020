#!/usr/bin/env python3
"""Pillow's own bicubic resize of noise pictures, for test/unit/mutation/resample.test.ts.

  /usr/bin/python3 scripts/reference/resample_bicubic.py > test/fixtures/resample_bicubic.json

Debian's python3-pil (9.4.0 on Debian 12; `apt-get install python3-pil`), the only Pillow this
project may install (npm and Debian packages only). Pillow 12.3.0 gives the same bytes for every case.

Each case resizes a w×h RGB picture of pseudo-random bytes (the linear congruential formula of
noise(), which the test repeats) to ow×oh with Image.resize(..., Image.BICUBIC): shrinking and
enlarging, each axis alone, both at once, a 1-pixel axis kept or enlarged, and 5×3 squashed to
4×4 (picture.test.ts: the bicubic `squash` path). Cases 9 to 12 were
found by applying a mutant of resample.ts and searching for a picture it changes: two where a
weight rounded toward zero instead of to nearest changes a byte, two where a window starting one
pixel further left does.
Outputs are base64 of the 8-bit RGB bytes.
"""
import base64
import json
import sys

import PIL
from PIL import Image

CASES = [(7, 5, 3, 4, 1), (5, 7, 11, 3, 2), (13, 1, 4, 1, 3), (1, 9, 1, 2, 4), (6, 6, 6, 9, 5), (31, 17, 5, 29, 6), (3, 3, 8, 8, 7), (40, 3, 9, 3, 8), (8, 5, 9, 5, 14), (2, 11, 3, 11, 46), (12, 1, 44, 1, 16), (13, 2, 23, 2, 17), (5, 3, 4, 4, 18)]


def noise(w, h, seed):
    out = bytearray(w * h * 3)
    s = seed
    for i in range(len(out)):
        s = (s * 1103515245 + 12345) % 2**31
        out[i] = (s >> 16) % 256
    return bytes(out)


cases = []
for w, h, ow, oh, seed in CASES:
    img = Image.frombytes('RGB', (w, h), noise(w, h, seed))
    out = img.resize((ow, oh), Image.BICUBIC)
    cases.append({'width': w, 'height': h, 'seed': seed, 'outWidth': ow, 'outHeight': oh, 'output': base64.b64encode(out.tobytes()).decode()})
json.dump({'pillow': PIL.__version__, 'cases': cases}, sys.stdout, indent=1)
sys.stdout.write('\n')
