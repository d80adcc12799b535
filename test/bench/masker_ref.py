#!/usr/bin/python3
"""A PyTorch port of the paper authors' Stage 1 and Stage 2 training, run on a
data set and model exported from vqaprune, to compare per-epoch curves with
vqaprune's own (make masker-compare, doc/results.md).

What is ported (PhoebusSi/Compress-Robust-VQA; shared/docs methods-reference
1.3): the straight-through MaskedLinear1 masker over the matrices of
theta_pr (word embeddings, visn_fc, box_fc, every linear weight of the
language, visual and cross layers, the pooler), scores initialised to
2 x threshold where one-shot magnitude pruning of each matrix keeps a weight
and 0 elsewhere, M = 1[score > threshold], per-matrix thresholds reset every
reset_steps steps to the kth value that prunes exactly floor(numel x s)
weights (k >= 1), AdamW over the scores and the answer head with everything
else frozen, linear decay without warm-up, gradients clipped to 1. The LMH
loss is the authors' LearnedMixin +H with its gate and smoothing fixed at
their initial values (the gate drawn as vqaprune's trainer draws it for the
same seed); BCE is the mean times the number of answers.

The body is test/bench/lxmert_ref.py's LXMERT; the head is HuggingFace's or
the authors' SimpleClassifier, as the exported config says.

Usage: masker_ref.py DIR --mode {finetune,mask} --loss {bce,lmh} [options]
DIR holds what test/bench/masker_compare.sql exports: config.json,
model.safetensors, questions.tsv, images.tsv, priors.tsv. Prints one JSON
object per epoch: {"epoch", "loss", "train_accuracy", "eval_accuracy"}, the
accuracy being the soft VQA score of the argmax answer on the eval split, as
vqaprune's eval_split reports it.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lxmert_ref  # noqa: E402

LMH_ENTROPY_WEIGHT = 0.36
LMH_SMOOTH_INIT = -1.0
HEAD_DROPOUT = 0.5


class SimpleClassifier(nn.Module):
    """The authors' head: weight-normed Linear(H, 2H), ReLU, Dropout(0.5),
    weight-normed Linear(2H, A), one gain per matrix (dim=None)."""

    def __init__(self, H, A):
        super().__init__()
        self.main = nn.Sequential(
            nn.utils.weight_norm(nn.Linear(H, 2 * H), dim=None),
            nn.ReLU(),
            nn.Dropout(HEAD_DROPOUT),
            nn.utils.weight_norm(nn.Linear(2 * H, A), dim=None),
        )

    def forward(self, pooled):
        return self.main(pooled)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lxmert = lxmert_ref.LxmertModel(cfg)
        if cfg.get("answer_head", "lxmert") == "simple_classifier":
            self.classifier = SimpleClassifier(cfg["hidden_size"], cfg["num_qa_labels"])
        else:
            self.answer_head = lxmert_ref.LxmertVisualAnswerHead(cfg)

    def head(self):
        return getattr(self, "classifier", None) or self.answer_head

    def forward(self, ids, mask, feats, boxes):
        pooled, _, _ = self.lxmert(ids, mask, torch.zeros_like(ids), feats, boxes)
        return self.head()(pooled), pooled


# ---------------------------------------------------------------------------
# Data exported by masker_compare.sql
# ---------------------------------------------------------------------------

def pg_array(text):
    """A one- or two-dimensional PostgreSQL array literal of numbers."""
    if text == "\\N":
        return []
    text = text.strip()
    if text.startswith("{{"):
        return [pg_array("{" + row + "}") for row in text[2:-2].split("},{")]
    inner = text[1:-1]
    return [float(x) for x in inner.split(",")] if inner else []


class Split:
    def __init__(self, rows, images, priors, A):
        self.n = len(rows)
        enc = [r["encoded"] for r in rows]
        self.ids = torch.tensor([e[0] for e in enc], dtype=torch.long)
        self.mask = torch.tensor([e[1] for e in enc], dtype=torch.long)
        self.image = [r["image_id"] for r in rows]
        self.targets = torch.zeros(self.n, A)
        self.prior = torch.zeros(self.n, A)
        for i, r in enumerate(rows):
            for a, s in zip(r["answer_ids"], r["scores"]):
                self.targets[i, int(a)] = s
            if r["question_type"] in priors:
                self.prior[i] = priors[r["question_type"]]
        self.feats = torch.stack([images[k][0] for k in self.image])
        self.boxes = torch.stack([images[k][1] for k in self.image])

    def batch(self, idx):
        return self.ids[idx], self.mask[idx], self.feats[idx], self.boxes[idx], \
            self.targets[idx], self.prior[idx]


def load_data(d, A):
    images = {}
    with open(os.path.join(d, "images.tsv")) as f:
        for line in f:
            image_id, n, dim, boxes, feats = line.rstrip("\n").split("\t")
            n, dim = int(n), int(dim)
            images[int(image_id)] = (
                torch.from_numpy(np.frombuffer(bytes.fromhex(feats), "<f4").reshape(n, dim).copy()),
                torch.from_numpy(np.frombuffer(bytes.fromhex(boxes), "<f4").reshape(n, 4).copy()))
    priors = {}
    with open(os.path.join(d, "priors.tsv")) as f:
        for line in f:
            qtype, answer_id, prior = line.rstrip("\n").split("\t")
            priors.setdefault(qtype, torch.zeros(A))[int(answer_id)] = float(prior)
    splits = {}
    with open(os.path.join(d, "questions.tsv")) as f:
        for line in f:
            qid, split, image_id, qtype, encoded, answer_ids, scores = line.rstrip("\n").split("\t")
            splits.setdefault(split, []).append(dict(
                question_id=int(qid), image_id=int(image_id), question_type=qtype,
                encoded=[[int(x) for x in row] for row in pg_array(encoded)],
                answer_ids=pg_array(answer_ids), scores=pg_array(scores)))
    return {s: Split(sorted(rows, key=lambda r: r["question_id"]), images, priors, A)
            for s, rows in splits.items()}


def load_model(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = lxmert_ref.make_config(json.load(f))
    net = Net(cfg)
    state = net.state_dict()
    for name, value in lxmert_ref.read_safetensors(os.path.join(d, "model.safetensors")).items():
        key = name if name in state else "lxmert." + name
        state[key].copy_(torch.from_numpy(value).reshape(state[key].shape))
    return cfg, net


# ---------------------------------------------------------------------------
# Losses (the authors' conventions, as in src/core/losses.c)
# ---------------------------------------------------------------------------

def bce(logits, targets):
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / logits.shape[0]


M64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def vqaprune_uniforms(seed, n):
    """The first n uniforms of vqaprune's RNG (src/core/rng.c, xoshiro256**)."""
    x, s = seed & M64, []
    for _ in range(4):
        x, z = splitmix64(x)
        s.append(z)
    rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64  # noqa: E731
    out = []
    for _ in range(n):
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        out.append((result >> 11) * (1.0 / 9007199254740992.0))
    return out


class LearnedMixinH(nn.Module):
    """LMH: d = z + g(h) (log(b + sigma(s)) - log(1 - b + sigma(s))), a BCE on d,
    plus w_H times the mean binary entropy of sigma(g delta). The gate starts as
    nn.Linear(H, 1) draws it, uniform in +-1/sqrt(H), from vqaprune's RNG with the
    run's seed (the first draws of its trainer), so that with the gate fixed, as
    the authors' mask training leaves it, both sides train with the same gate."""

    def __init__(self, H, seed):
        super().__init__()
        self.gate = nn.Linear(H, 1)
        u = vqaprune_uniforms(seed, H + 1)
        with torch.no_grad():
            self.gate.weight.copy_(torch.tensor([(2 * x - 1) / math.sqrt(H) for x in u[:H]]).view(1, H))
            self.gate.bias.fill_((2 * u[H] - 1) / math.sqrt(H))
        self.smooth = nn.Parameter(torch.tensor(LMH_SMOOTH_INIT))

    def forward(self, logits, targets, prior, hidden):
        g = F.softplus(self.gate(hidden))
        s = torch.sigmoid(self.smooth)
        r = g * (torch.log(prior + s) - torch.log(1 - prior + s))
        rows = F.binary_cross_entropy_with_logits(logits + r, targets, reduction="none").sum(1)
        rows = torch.where(torch.isnan(rows), torch.zeros_like(rows), rows)
        p = torch.sigmoid(r)
        entropy = -(p * F.logsigmoid(r) + (1 - p) * F.logsigmoid(-r))
        return rows.sum() / logits.shape[0] + LMH_ENTROPY_WEIGHT * entropy.mean()


# ---------------------------------------------------------------------------
# The authors' masker
# ---------------------------------------------------------------------------

class Binarizer(torch.autograd.Function):
    """M = 1[score > threshold]; the gradient passes straight through."""

    @staticmethod
    def forward(ctx, scores, threshold):
        return (scores > threshold).to(scores.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def prunable(name, p):
    return (name.startswith("lxmert.") and name.endswith(".weight") and p.dim() == 2
            and "position_embeddings" not in name and "token_type_embeddings" not in name)


class Masker:
    """Scores on every matrix of theta_pr; each module's weight is replaced by
    weight_orig * M in a forward pre-hook, as torch.nn.utils.prune does."""

    def __init__(self, net, sparsity, threshold, init_scale):
        self.sparsity = sparsity
        self.entries = []
        modules = dict(net.named_modules())
        for name, p in list(net.named_parameters()):
            if not prunable(name, p):
                continue
            module = modules[name[:-len(".weight")]]
            weight = p.detach().clone()
            k = int(weight.numel() * sparsity)
            kth = torch.kthvalue(weight.abs().view(-1), k).values if k >= 1 else -1.0
            scores = nn.Parameter(torch.where(weight.abs() > kth, torch.tensor(init_scale),
                                              torch.tensor(0.0)))
            del module._parameters["weight"]
            module.register_buffer("weight_orig", weight)
            module.register_parameter("weight_score", scores)
            module.threshold = torch.tensor(threshold)
            module.register_forward_pre_hook(Masker.hook)
            module.weight = weight * Binarizer.apply(scores, module.threshold)
            self.entries.append(module)

    @staticmethod
    def hook(module, _inputs):
        module.weight = module.weight_orig * Binarizer.apply(module.weight_score, module.threshold)

    def scores(self):
        return [m.weight_score for m in self.entries]

    def reset(self):
        with torch.no_grad():
            for m in self.entries:
                k = max(1, int(m.weight_score.numel() * self.sparsity))
                m.threshold = torch.kthvalue(m.weight_score.view(-1), k).values


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

def soft_score(logits, targets):
    return targets.gather(1, logits.argmax(1, keepdim=True)).sum().item()


def evaluate(net, split, batch=256):
    net.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, split.n, batch):
            idx = torch.arange(start, min(split.n, start + batch))
            ids, mask, feats, boxes, targets, _ = split.batch(idx)
            logits, _ = net(ids, mask, feats, boxes)
            total += soft_score(logits, targets)
    return 100.0 * total / split.n


def run(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cfg, net = load_model(args.dir)
    data = load_data(args.dir, cfg["num_qa_labels"])
    train, held = data["train"], data[args.eval_split]
    lmh = LearnedMixinH(cfg["hidden_size"], args.seed) if args.loss == "lmh" else None
    if lmh is not None:
        lmh.requires_grad_(args.mode == "finetune" and not args.fixed_loss_params)
    masker = None
    if args.mode == "mask":
        masker = Masker(net, args.sparsity, args.threshold, args.init_scale)
        for name, p in net.named_parameters():
            p.requires_grad_(name.endswith("weight_score") or not name.startswith("lxmert."))
    params = [p for p in net.parameters() if p.requires_grad]
    if lmh is not None:
        params += [p for p in lmh.parameters() if p.requires_grad]
    optim_cls = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.Adam
    optim = optim_cls(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8,
                      weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(train.n / args.batch_size)
    total = steps_per_epoch * args.epochs
    warmup = args.warmup_steps

    def lr_at(step):
        """vqaprune's schedule: linear warm-up from 0, then linear decay to 0."""
        if step < warmup:
            return step / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_at)
    step = 0
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(train.n)
        loss_sum = score_sum = 0.0
        for start in range(0, train.n, args.batch_size):
            idx = order[start:start + args.batch_size]
            ids, mask, feats, boxes, targets, prior = train.batch(idx)
            logits, pooled = net(ids, mask, feats, boxes)
            loss = bce(logits, targets) if lmh is None else lmh(logits, targets, prior, pooled)
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
            optim.step()
            sched.step()
            step += 1
            if masker is not None and args.reset_steps > 0 and step % args.reset_steps == 0:
                masker.reset()
            loss_sum += loss.item() * len(idx)
            score_sum += soft_score(logits.detach(), targets)
        if masker is not None:
            masker.reset()
        print(json.dumps({"epoch": epoch, "loss": round(loss_sum / train.n, 6),
                          "train_accuracy": round(100.0 * score_sum / train.n, 4),
                          "eval_accuracy": round(evaluate(net, held), 4)}), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir")
    p.add_argument("--mode", choices=["finetune", "mask"], required=True)
    p.add_argument("--loss", choices=["bce", "lmh"], required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=["adam", "adamw"], default="adamw")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--sparsity", type=float, default=0.7)
    p.add_argument("--threshold", type=float, default=0.01)
    p.add_argument("--init-scale", type=float, default=0.02)
    p.add_argument("--reset-steps", type=int, default=100)
    p.add_argument("--fixed-loss-params", action="store_true")
    p.add_argument("--eval-split", default="test")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
