#!/usr/bin/env python3
"""Pictures with transparency through open_clip's eval preprocessing, for coca's test.

  /usr/bin/python3 scripts/reference/clip_alpha.py > test/fixtures/clip_preprocess_alpha.json   # Debian python3-pil 9.4.0

open_clip's image_transform begins with _convert_to_rgb, Pillow's image.convert('RGB'), which drops
transparency: the colour stored under a transparent pixel is what the model sees. Then Resize
(bicubic, shorter side) and CenterCrop, written out as in clip_preprocess.py. Each case stores the
PNG file as Pillow wrote it (so the input is Pillow's file, not coca's) and the 8-bit RGB output,
both base64. Modes: RGBA, LA (grey + alpha) and P with a transparent palette entry (tRNS).
"""
import base64
import io
import json

from PIL import Image

from clip_preprocess import pixels, preprocess

CASES = [("RGBA", 37, 23, 16), ("LA", 23, 37, 16), ("P", 13, 10, 10), ("RGBA", 9, 7, 20)]


def alpha(w, h):
    """0 (fully transparent), 1, partial and opaque, in stripes and a noisy block."""
    return bytes((0, 1, 77, 200, 255)[(x + 2 * y) % 5] if (x + y) % 3 else (x * 29 + y * 53) % 256 for y in range(h) for x in range(w))


def picture(mode, w, h, i):
    rgb = Image.frombytes("RGB", (w, h), pixels(w, h, "noise" if i % 2 == 0 else "smooth"))
    a = Image.frombytes("L", (w, h), alpha(w, h))
    if mode == "RGBA":
        img = rgb.copy()
        img.putalpha(a)
        return img
    if mode == "LA":
        img = rgb.convert("L")
        img.putalpha(a)
        return img
    img = rgb.quantize(colors=16)  # a palette picture; entry 3 transparent
    img.info["transparency"] = 3
    return img


def main():
    cases = []
    for i, (mode, w, h, size) in enumerate(CASES):
        img = picture(mode, w, h, i)
        buf = io.BytesIO()
        img.save(buf, format="PNG", **({"transparency": 3} if mode == "P" else {}))
        back = Image.open(io.BytesIO(buf.getvalue()))
        assert back.mode == mode, (back.mode, mode)
        out = preprocess(back.convert("RGB"), size)
        cases.append({"mode": mode, "width": w, "height": h, "size": size,
                      "png": base64.b64encode(buf.getvalue()).decode(), "output": base64.b64encode(out.tobytes()).decode()})
    print(json.dumps({"source": f"Pillow {Image.__version__}: convert('RGB'), BICUBIC, torchvision Resize + CenterCrop arithmetic", "cases": cases}))


if __name__ == "__main__":
    main()
