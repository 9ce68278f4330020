#!/usr/bin/env python3
"""Pictures through open_clip's eval preprocessing (resize_mode 'shortest', bicubic), for coca's test.

  /usr/bin/python3 clip_preprocess.py > test/fixtures/clip_preprocess.json   # Debian python3-pil (9.4.0) gives the same 9 cases as Pillow 11.3.0

open_clip's image_transform(size, is_train=False) for a square size is torchvision's
Resize(size, BICUBIC) then CenterCrop(size) then ToTensor and Normalize. On a PIL image,
Resize computes the output size as torchvision's _compute_resized_output_size does (shorter side
to size, the longer int(size * long / short)) and calls Pillow's img.resize(..., BICUBIC);
CenterCrop takes int(round((h - size) / 2.0)) and int(round((w - size) / 2.0)). Those two steps
are written out below (torchvision is not installed); the resampling is Pillow's own C code.
The pictures are made from a formula the test repeats (pixels()); outputs are stored as base64
of the 8-bit RGB bytes.
"""
import base64
import json

from PIL import Image

CASES = [(37, 23, 16), (23, 37, 16), (5, 300, 16), (640, 480, 20), (16, 16, 16), (9, 7, 20), (13, 10, 10), (15, 10, 10), (203, 157, 24)]


def preprocess(img, size):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    r = img.resize((nw, nh), Image.BICUBIC)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return r.crop((left, top, left + size, top + size))


def pixels(w, h, pattern):
    """noise: an LCG's bytes; smooth: ramps with a sharp edge, where the cubic kernel rings."""
    if pattern == "noise":
        return bytes(((i * 1103515245 + 12345) % 2 ** 32) // 65536 % 256 for i in range(w * h * 3))
    return bytes(((x * 255 // max(1, w - 1) + (128 if y > h // 2 else 0)) % 256) if c != 1 else (y * 255 // max(1, h - 1))
                 for y in range(h) for x in range(w) for c in range(3))


def main():
    cases = []
    for i, (w, h, size) in enumerate(CASES):
        pattern = "noise" if i % 2 == 0 else "smooth"
        px = pixels(w, h, pattern)
        img = Image.frombytes("RGB", (w, h), px)
        out = preprocess(img, size)
        cases.append({"width": w, "height": h, "size": size, "pattern": pattern,
                      "output": base64.b64encode(out.tobytes()).decode()})
    print(json.dumps({"source": f"Pillow {Image.__version__} BICUBIC, torchvision Resize + CenterCrop arithmetic", "cases": cases}))


if __name__ == "__main__":
    main()
