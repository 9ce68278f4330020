#!/usr/bin/env python3
"""Builds coca's copy of CLIP's tokenizer from open_clip's BPE file, and the tokenizer fixture.

  clip_tokenizer.py build   OPEN_CLIP_SRC/src/open_clip   # writes src/data/clip/{tokenizer.json.gz,html5-entities.json,LICENSE}
  clip_tokenizer.py fixture OPEN_CLIP_SRC/src/open_clip   # writes test/fixtures/clip_tokenizer.json

`build` needs ftfy (for its tables) and nothing else. The vocabulary is made exactly as open_clip's
SimpleTokenizer makes it (bytes in bytes_to_unicode order, the same bytes with '</w>', the first
48,894 merges, then <start_of_text> <end_of_text>), written as a Hugging Face tokenizer.json:
BPE with end_of_word_suffix '</w>', a normalizer doing what Hugging Face can of open_clip's
clean-up (NFC, whitespace runs to one space, strip, lower-case), a Split pre-tokenizer with
open_clip's regex and a byte-level alphabet. ftfy's fixes and html.unescape cannot be written
in tokenizer.json; coca does them in TypeScript (src/data/clip-text.ts) from the tables
written beside it (text-tables.json: Python's html.entities.html5, the WHATWG list, and
html.unescape's replacements; ftfy's ligature, width, control-character and C1 tables).

`fixture` imports open_clip's tokenizer.py as it is (it needs torch, regex, ftfy) and runs its
SimpleTokenizer on the awkward strings below at context lengths 77 and 12.
"""
import gzip
import html.entities
import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "src" / "data" / "clip"
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def text_tables():
    """The tables behind ftfy.fix_text and html.unescape, so coca's clean-up uses the same ones."""
    import ftfy
    import ftfy.chardata as fc
    derived = {"&" + k: v for k, v in html.entities.html5.items() if k.endswith(";")}
    return {
        "ftfy": ftfy.__version__,
        "html5": html.entities.html5,
        "invalid_charrefs": {str(k): v for k, v in html._invalid_charrefs.items()},
        "invalid_codepoints": sorted(html._invalid_codepoints),
        "ftfy_entities_extra": {k: v for k, v in fc.HTML_ENTITIES.items() if derived.get(k) != v},
        "ligatures": {str(k): v for k, v in fc.LIGATURES.items()},
        "width": {str(k): v for k, v in fc.WIDTH_MAP.items()},
        "control": sorted(fc.CONTROL_CHARS),
        "c1": {str(i): chr(i).encode("latin-1").decode("sloppy-windows-1252") for i in range(0x80, 0xA0)},
    }


def build(src):
    merges = gzip.open(Path(src) / "bpe_simple_vocab_16e6.txt.gz").read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in merges[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    specials = ["<start_of_text>", "<end_of_text>"]
    vocab += specials
    ids = {t: i for i, t in enumerate(vocab)}
    assert len(ids) == len(vocab) == 49408, len(vocab)
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for t in specials],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERN}, "behavior": "Removed", "invert": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": ids, "merges": [list(m) for m in merges]},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(tok, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as g:
        g.write(raw)
    (OUT / "tokenizer.json.gz").write_bytes(buf.getvalue())
    (OUT / "text-tables.json").write_text(json.dumps(text_tables(), ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n")
    shutil.copy(Path(src).parents[1] / "LICENSE", OUT / "LICENSE")
    print(json.dumps({"tokens": len(ids), "merges": len(merges), "gz_bytes": len(buf.getvalue())}))


CORPUS = [
    "a dog on a surfboard",
    "A Dog   ON\ta\nSurfboard  ",
    "Café crème brûlée à la française",
    "naïve coöperation, Ångström, Ærøskøbing",
    "Straße und Fuß",
    "İstanbul'da ΣΊΣΥΦΟΣ όσος",
    "東京タワーの夜景",
    "北京烤鸭 and 한국어 텍스트",
    "🐶🏄‍♂️ on the 🌊 👍🏽",
    "flags 🇫🇷🇯🇵 and keycap 1️⃣",
    "fish &amp; chips &lt;b&gt; &quot;quoted&quot; &#39;single&#39; &#x263A; &eacute;t&eacute;",
    "double escaped &amp;amp; &amp;lt;tag&amp;gt;",
    "legacy &copy 2024 &ampersand &notit; &unknownentity;",
    "<b>bold</b> &amp; a tag",
    "“curly quotes” and ‘single’ — dash … ellipsis",
    "ﬁne ﬂour, ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "it's, they're, we've, I'm, you'll, he'd, can't, IT'S",
    "numbers 1234567890 and 3.14159, 1,000,000",
    "snake_case and kebab-case and CamelCase and UPPER",
    "punctuation!!! ??? ... --- ((( ))) @#$%^&*",
    "e-mail: someone@example.com, url https://example.org/a?b=c",
    "tabs\tand\r\nnewlines\u00a0nbsp\u2003emspace",
    "zero\u200bwidth and soft\u00adhyphen and bom\ufeffhere",
    "control\x07bell\x1bescape",
    "decomposed e\u0301 versus composed \u00e9",
    "",
    "   ",
    "a",
    "!",
    "a photo of a " + "very " * 40 + "long caption that must be cut with its end token kept last",
    "x" * 300,
]


def load_tokenizer(src):
    spec = importlib.util.spec_from_file_location("oc_tokenizer", Path(src) / "tokenizer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fixture(src):
    mod = load_tokenizer(src)
    tok = mod.SimpleTokenizer()
    cases = []
    for text in CORPUS:
        cases.append({"text": text, "clean": mod._clean_lower(text),
                      "ids77": tok(text, context_length=77)[0].tolist(),
                      "ids12": tok(text, context_length=12)[0].tolist()})
    out = {"source": "open_clip SimpleTokenizer (tokenizer.py at 89fb801), clean='lower'",
           "sot": tok.sot_token_id, "eot": tok.eot_token_id, "vocab_size": tok.vocab_size, "cases": cases}
    path = ROOT / "test" / "fixtures" / "clip_tokenizer.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=0) + "\n")
    print(json.dumps({"cases": len(cases), "bytes": path.stat().st_size}))


if __name__ == "__main__":
    {"build": build, "fixture": fixture}[sys.argv[1]](sys.argv[2])
