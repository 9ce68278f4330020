#!/usr/bin/env python3
"""DeViSE in plain PyTorch: the reference src/model/devise.ts is checked against.

The CNN tower of coca_torch.py (the same modules, names and init), its global average pool, one
linear map M without bias into the word-vector space, and the hinge rank loss summed over every
wrong label (Frome et al. 2013), batch mean; computed in float64 with autograd.

  devise_torch.py --config test/fixtures/parity_micro_cnn.json --dump test/fixtures/parity_devise.safetensors
"""
import argparse
import json
import sys
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from coca_torch import BasicBlock, load_config, write_safetensors  # noqa: E402

MARGIN = 0.1


class DeviseTower(nn.Module):
    def __init__(self, v, dim):
        super().__init__()
        widths, depths = v["cnn_widths"], v["cnn_depths"]
        self.conv1 = nn.Conv2d(3, widths[0], 3, v["cnn_stem_stride"], 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.stem_pool = v["cnn_stem_pool"]
        self.stages = len(widths)
        cin = widths[0]
        for s, (w, d) in enumerate(zip(widths, depths)):
            blocks = []
            for j in range(d):
                blocks.append(BasicBlock(cin, w, 2 if s > 0 and j == 0 else 1))
                cin = w
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.proj = nn.Linear(cin, dim, bias=False)  # devise.proj.weight [dim, C]

    def forward(self, images):
        x = F.gelu(self.bn1(self.conv1(images)))
        if self.stem_pool:
            x = F.max_pool2d(x, 3, 2, 1)
        for s in range(self.stages):
            x = getattr(self, f"layer{s + 1}")(x)
        return self.proj(x.mean((2, 3)))


def hinge_rank_loss(scores, labels, margin=MARGIN):
    """Σ_{j≠y} max(0, margin − s_y + s_j), batch mean."""
    true = scores.gather(1, labels.view(-1, 1))
    h = (margin - true + scores).clamp(min=0)
    h = h * (1 - F.one_hot(labels, scores.shape[1]).to(h.dtype))
    return h.sum(1).mean(), int((h > 0).sum())


def names(model):
    """coca's names: the tower's under visual., the map as devise.proj.weight."""
    return lambda n: "devise.proj.weight" if n == "proj.weight" else f"visual.{n}"


def dump(cfg, out, seed, batch, labels_n, dim):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    v = cfg["vision_cfg"]
    model = DeviseTower(v, dim)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 4:
                p.normal_(0, (2 / (p.shape[0] * p.shape[2] * p.shape[3])) ** 0.5)
            elif n == "proj.weight":
                p.normal_(0, p.shape[1] ** -0.5)
    gen = torch.Generator().manual_seed(seed + 1)
    images = torch.randn(batch, 3, v["image_size"], v["image_size"], generator=gen)
    vecs = torch.randn(labels_n, dim, generator=gen)
    vecs = (vecs / vecs.norm(dim=1, keepdim=True)).float()
    labels = torch.randint(0, labels_n, (batch,), generator=gen)
    model = model.double()
    rename = names(model)
    f32 = lambda x: x.detach().float()  # noqa: E731
    t = OrderedDict()
    t["input.images"] = images
    t["input.labels"] = labels.int()
    t["input.label_vectors"] = vecs
    for n, p in model.named_parameters():
        t[f"param.{rename(n)}"] = f32(p)
    buffers = OrderedDict((n, b) for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    for n, b in buffers.items():
        t[f"buffer.{rename(n)}"] = f32(b)
    emb = model(images.double())
    scores = emb @ vecs.double().t()
    loss, active = hinge_rank_loss(scores, labels)
    loss.backward()
    t["out.embedding"] = f32(emb)
    t["out.scores"] = f32(scores)
    t["loss.hinge"] = f32(loss)
    for n, p in model.named_parameters():
        t[f"grad.{rename(n)}"] = f32(p.grad)
    for n, b in buffers.items():
        t[f"out.buffer.{rename(n)}"] = f32(b)
    meta = {"format": "coca-devise-parity-1", "config": json.dumps(cfg), "margin": str(MARGIN), "seed": str(seed),
            "active": str(active), "compute": "float64, stored as float32", "torch": torch.__version__}
    write_safetensors(out, t, meta)
    print(json.dumps({"out": str(out), "loss": loss.item(), "active": active, "of": batch * (labels_n - 1)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--labels", type=int, default=7)
    ap.add_argument("--dim", type=int, default=6)
    a = ap.parse_args()
    dump(load_config(a.config), a.dump, a.seed, a.batch, a.labels, a.dim)


if __name__ == "__main__":
    main()
