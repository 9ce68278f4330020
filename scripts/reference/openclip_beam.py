#!/usr/bin/env python3
"""open_clip's own beam search (CoCa.generate, which hands it to Hugging Face transformers'
GenerationMixin) on a CoCa with random weights, for coca's beam-parity test.

  COCA_TRANSFORMERS_SRC=TRANSFORMERS/src openclip_beam.py make OPEN_CLIP_SRC/src/open_clip OUT [--config beam|coca_ViT-B-32] [--batch N]
  COCA_TRANSFORMERS_SRC=TRANSFORMERS/src openclip_beam.py generate OPEN_CLIP_SRC/src/open_clip MODEL_DIR OUT.safetensors [--batch N] [--settings default,narrow] [--seq-len L]

Nothing is installed: open_clip's modules are imported as check_openclip.py does, and transformers
(a checkout of huggingface/transformers; checked with v5.12.1, the release current at open_clip
89fb801) through transformers_shims.py. Needs Debian's python3-torch, python3-packaging,
python3-tqdm and python3-filelock.

`make` builds open_clip's CoCa as openclip_interop.py does (seeded normal weights, open_clip's
default legacy text mask) and writes into OUT:
  open_clip_model.safetensors, open_clip_pytorch_model.bin, open_clip_config.json
  beams.safetensors   input.images and, for every entry of SETTINGS, beam.<name>: the tokens of
                      model.generate(images, **settings) per picture, [SOT] … [EOT], padded with -1
                      (generate pads finished rows with [EOT]; the padding is cut at the first [EOT]);
                      metadata: sot, eot, pad, the settings, transformers' version
`generate` does the same for a model folder already written (openclip_interop.py make --config
coca_ViT-B-32: too big to commit), into one beams.safetensors; --seq-len shortens every setting (on a
CPU, generate recomputes every prefix of every beam); scripts/reference/openclip_beam_check.ts
compares coca on that folder's import.
The `beam` config is the reduced one of openclip_interop.py with a 32-token context and 64 tokens,
so generate's default length (30) fits. Random weights almost never choose [EOT], so its column of
the decoder's output projection gets EOT_PULL along the final layer norm's bias (the mean of what
it projects): with 0.3 some captions end at the minimum length, some in between, some at the maximum.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import openclip_interop as interop  # noqa: E402
import transformers_shims  # noqa: E402
from check_openclip import import_coca  # noqa: E402
from safetensors_io import save_file  # noqa: E402

# generate's keyword arguments; {} is open_clip's defaults: generation_type "beam_search",
# num_beams 6, num_beam_groups 3 (which open_clip turns into 1 with a warning: transformers 5 has no
# group beam search), seq_len 30, min_seq_len 5, repetition_penalty 1.0.
SETTINGS = {
    "default": {},
    "narrow": {"num_beams": 3, "seq_len": 20, "min_seq_len": 9, "repetition_penalty": 1.5},
}


EOT_PULL = 0.3


def beam_config():
    cfg = interop.model_cfg("reduced", None)
    for k in ("text_cfg", "multimodal_cfg"):
        cfg[k]["context_length"] = 32
        cfg[k]["vocab_size"] = 64
    return cfg


def rows(tokens, eot, width):
    out = torch.full((tokens.shape[0], width), -1, dtype=torch.int32)
    for b, row in enumerate(tokens.tolist()):
        end = row.index(eot) + 1 if eot in row[1:] else len(row)
        out[b, :end] = torch.tensor(row[:end], dtype=torch.int32)
    return out


def load_transformers():
    src = os.environ.get("COCA_TRANSFORMERS_SRC")
    if not src or not (Path(src) / "transformers" / "generation" / "utils.py").is_file():
        sys.exit("openclip_beam.py: set COCA_TRANSFORMERS_SRC to the src folder of a huggingface/transformers checkout (v5.x)")
    return transformers_shims.install(src)


def beams(model, images, sot, eot, settings, path, version):
    tensors, shown = {"input.images": images.contiguous()}, {}
    for name, kw in settings.items():
        with torch.no_grad():
            tokens = model.generate(images, sot_token_id=sot, eos_token_id=eot, **kw)
        tensors[f"beam.{name}"] = rows(tokens, eot, kw.get("seq_len", 30))
        shown[name] = [[t for t in r if t >= 0] for r in tensors[f"beam.{name}"].tolist()]
    save_file(tensors, str(path), metadata={"sot": sot, "eot": eot, "pad": model.pad_id, "settings": json.dumps(settings), "transformers": version})
    return shown


def make(args):
    version = load_transformers()
    CoCa = import_coca(args.src)
    cfg = beam_config() if args.config == "beam" else interop.model_cfg(args.config, args.src)
    torch.manual_seed(args.seed)
    model = interop.build(CoCa, cfg)
    interop.randomise(model, args.seed)
    model.eval()
    if args.config == "beam":
        with torch.no_grad():
            bias = model.text_decoder.ln_final.bias
            model.text_decoder.text_projection[:, -1] += EOT_PULL * bias / bias.square().sum()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    interop.save_file(sd, str(out / "open_clip_model.safetensors"))
    torch.save(model.state_dict(), out / "open_clip_pytorch_model.bin")
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": interop.PREPROCESS}, indent=2) + "\n")
    images, _, sot, eot = interop.inputs(cfg, args.seed, args.batch)
    if args.config != "beam":  # a real config: CLIP's special tokens
        sot, eot = 49406, 49407
    shown = beams(model, images, sot, eot, SETTINGS, out / "beams.safetensors", version)
    print(json.dumps({"transformers": version, "beams": shown, "bytes": {f.name: f.stat().st_size for f in sorted(out.iterdir())}}))


def generate(args):
    version = load_transformers()
    CoCa = import_coca(args.src)
    cfg = json.loads((Path(args.model) / "open_clip_config.json").read_text())["model_cfg"]
    model = interop.build(CoCa, cfg)
    model.load_state_dict(interop.load_file(str(Path(args.model) / "open_clip_model.safetensors")), strict=True)
    model.eval()
    images, _, _, _ = interop.inputs(cfg, args.seed, args.batch)
    settings = {n: dict(SETTINGS[n], **({"seq_len": args.seq_len} if args.seq_len else {})) for n in args.settings.split(",")}
    vocab = cfg["text_cfg"]["vocab_size"]
    sot, eot = (49406, 49407) if vocab == 49408 else (vocab - 2, vocab - 1)
    t0 = time.perf_counter()
    shown = beams(model, images, sot, eot, settings, args.out, version)
    print(json.dumps({"transformers": version, "settings": settings, "seconds": round(time.perf_counter() - t0, 1), "beams": shown}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("src")
    m.add_argument("out")
    m.add_argument("--config", default="beam")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--batch", type=int, default=6, help="pictures")
    g = sub.add_parser("generate")
    g.add_argument("src")
    g.add_argument("model")
    g.add_argument("out")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--batch", type=int, default=1, help="pictures")
    g.add_argument("--settings", default="default", help="names from SETTINGS, comma-separated")
    g.add_argument("--seq-len", type=int, default=0, help="every setting's seq_len instead of its own")
    args = ap.parse_args()
    torch.set_num_threads(1 if args.cmd == "make" else (os.cpu_count() or 1))
    return {"make": make, "generate": generate}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
