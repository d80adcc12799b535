#!/usr/bin/python3
"""PyTorch reference implementation of LXMERT for VQA -- the reference side of
vqaprune's benchmark.

vqaprune implements LXMERT (forward and backward) by hand in C on OpenBLAS.
This file is the same model written in plain PyTorch, so that the speed
comparison in the benchmark is between two implementations of the *same*
model, not between two different networks:

  * The modules mirror HuggingFace's LxmertForQuestionAnswering: same class
    roles, same parameter names and layouts (Linear weights are [out, in]),
    so a HuggingFace checkpoint loads with load_state_dict(strict=True).
  * `--check DIR` loads a HuggingFace fixture (config.json, model, inputs,
    the reference outputs and gradients, all as safetensors), runs forward
    and backward here, and compares every hidden state, the logits, the loss
    and every parameter gradient.  It exits 1 on any mismatch.  A passing
    check is what makes the timings of `--bench` meaningful.
  * `--bench` times full training steps (forward, BCE loss, backward, Adam)
    at the real LXMERT-base shape or at the project's tiny demo shape, and
    prints one machine-readable line, including an analytic GEMM FLOP count
    (train_step_flops) so both sides can be compared in achieved GFLOP/s.
  * `--bench --plan FILE` times steps on questions of real length: each line
    of FILE (written by bench_lxmert --plan) is one step's question lengths;
    the step is padded to its longest question (`--padding batch`) or to the
    shape's 20 tokens (`--padding fixed`, as LXMERT's own code pads), with
    the padding masked.
  * `--sgemm N` times a bare torch.mm, the ceiling for the above.

Threads: `--threads T` sets torch's intra-op threads and, through ctypes,
OpenBLAS's threads (which do the GEMMs in Debian's torch and ignore
torch.set_num_threads); inter-op threads are 1, and OpenMP workers sleep
rather than spin between ops (OMP_WAIT_POLICY=PASSIVE unless already set).

Only the standard library, torch and numpy are used; safetensors files are
read and written by the small functions below.

Usage:
  lxmert_ref.py --check FIXTURE_DIR
  lxmert_ref.py --bench [--shape base|tiny] [--batch N] [--threads T]
                [--steps S] [--warmup W] [--seed K]
                [--plan FILE [--padding batch|fixed]]
  lxmert_ref.py --sgemm N [--threads T]
"""

import argparse
import ctypes
import json
import math
import os
import resource
import struct
import sys
import time

# Debian's torch runs its element-wise ops on OpenMP threads but its GEMMs on
# OpenBLAS's own pthreads.  OpenMP threads that spin-wait between ops take the
# cores away from OpenBLAS (base shape, 2 cores: 10.0 s per step instead of
# 5.9 s), so let them sleep unless the caller chose a policy.  This must be
# set before torch (libgomp) is loaded.
# --openmp-as-installed keeps libgomp's own default (spin, then sleep), to
# measure torch as a user gets it out of the box.
if "--openmp-as-installed" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# ---------------------------------------------------------------------------
# safetensors: an 8-byte little-endian header length, a JSON header
# {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
# then the raw little-endian tensor bytes (offsets relative to the data start).
# ---------------------------------------------------------------------------

_ST_NUMPY = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def read_safetensors(path):
    """Return {name: numpy array} (writable copies).

    BF16 has no numpy dtype: it is widened to float32 (exactly).
    """
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = memoryview(blob)[8 + header_len:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        raw = data[begin:end]
        dtype = info["dtype"]
        if dtype == "BF16":
            # bfloat16 is the top half of a float32
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dtype in _ST_NUMPY:
            arr = np.frombuffer(raw, dtype=_ST_NUMPY[dtype])
        else:
            raise ValueError("%s: unsupported safetensors dtype %s" % (name, dtype))
        out[name] = arr.reshape(shape).copy()
    return out


def write_safetensors(path, tensors, metadata=None):
    """Write {name: numpy array or torch tensor} as a safetensors file."""
    to_st = {v: k for k, v in _ST_NUMPY.items()}
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        arr = tensors[name]
        if isinstance(arr, torch.Tensor):
            arr = arr.detach().cpu().numpy()
        arr = np.asarray(arr, order="C")     # ascontiguousarray would make a scalar 1-d
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt not in to_st:
            raise ValueError("%s: cannot write numpy dtype %s" % (name, arr.dtype))
        raw = arr.astype(dt, copy=False).tobytes()
        header[name] = {"dtype": to_st[dt], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)          # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in chunks:
            f.write(raw)


# ---------------------------------------------------------------------------
# Configuration (HuggingFace LxmertConfig keys)
# ---------------------------------------------------------------------------

CONFIG_DEFAULTS = {
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "type_vocab_size": 2,
    "max_position_embeddings": 512,
    "visual_pos_dim": 4,
    "hidden_act": "gelu",
}

SHAPES = {
    # LXMERT-base as pre-trained for VQA (36 Faster R-CNN boxes, 3129 answers)
    "base": dict(vocab_size=30522, hidden_size=768, num_attention_heads=12,
                 intermediate_size=3072, l_layers=9, r_layers=5, x_layers=5,
                 visual_feat_dim=2048, visual_pos_dim=4, num_qa_labels=3129,
                 max_position_embeddings=512, type_vocab_size=2,
                 tokens=20, boxes=36, warmup=1, steps=3),
    # the shape of vqaprune's demo model
    "tiny": dict(vocab_size=200, hidden_size=64, num_attention_heads=4,
                 intermediate_size=128, l_layers=2, r_layers=1, x_layers=2,
                 visual_feat_dim=64, visual_pos_dim=4, num_qa_labels=30,
                 max_position_embeddings=32, type_vocab_size=2,
                 tokens=20, boxes=10, warmup=3, steps=20),
}


def make_config(d):
    cfg = dict(CONFIG_DEFAULTS)
    cfg.update(d)
    if cfg["hidden_act"] != "gelu":
        raise ValueError("only hidden_act=gelu (exact erf GeLU) is implemented")
    return cfg


# ---------------------------------------------------------------------------
# Model.  Class names follow HuggingFace's modeling_lxmert so the parameter
# names (the attribute paths) are identical.
# ---------------------------------------------------------------------------

def extended_mask(mask, dtype):
    """[B, S] 0/1 mask -> [B, 1, 1, S] additive mask on the attention keys."""
    mask = mask[:, None, None, :].to(dtype)
    return (1.0 - mask) * torch.finfo(dtype).min


class LxmertEmbeddings(nn.Module):
    """LayerNorm(word + position + token_type); id 0 is a padding row in all
    three tables (HuggingFace sets padding_idx=0, so row 0 gets no gradient)."""

    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], H, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], H, padding_idx=0)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], H, padding_idx=0)
        self.LayerNorm = nn.LayerNorm(H, eps=cfg["layer_norm_eps"])
        self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])

    def forward(self, input_ids, token_type_ids):
        T = input_ids.shape[1]
        pos = torch.arange(T, device=input_ids.device)[None, :]
        x = (self.word_embeddings(input_ids) + self.position_embeddings(pos)
             + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.LayerNorm(x))


class LxmertAttention(nn.Module):
    """Multi-head attention: queries from `hidden`, keys/values from `context`."""

    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.num_heads = cfg["num_attention_heads"]
        self.head_size = H // self.num_heads
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)
        self.dropout = nn.Dropout(cfg["attention_probs_dropout_prob"])

    def split_heads(self, x):                      # [B, S, H] -> [B, h, S, d]
        B, S, _ = x.shape
        return x.view(B, S, self.num_heads, self.head_size).transpose(1, 2)

    def forward(self, hidden, context, mask=None):
        q = self.split_heads(self.query(hidden))
        k = self.split_heads(self.key(context))
        v = self.split_heads(self.value(context))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        if mask is not None:
            scores = scores + mask
        probs = self.dropout(F.softmax(scores, dim=-1))
        ctx = torch.matmul(probs, v).transpose(1, 2)  # [B, S, h, d]
        return ctx.reshape(ctx.shape[0], ctx.shape[1], -1)


class LxmertAttentionOutput(nn.Module):
    """dense, dropout, residual, LayerNorm."""

    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.dense = nn.Linear(H, H)
        self.LayerNorm = nn.LayerNorm(H, eps=cfg["layer_norm_eps"])
        self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class LxmertSelfAttentionLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self = LxmertAttention(cfg)
        self.output = LxmertAttentionOutput(cfg)

    def forward(self, x, mask):
        return self.output(self.self(x, x, mask), x)


class LxmertCrossAttentionLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.att = LxmertAttention(cfg)
        self.output = LxmertAttentionOutput(cfg)

    def forward(self, x, ctx, ctx_mask):
        return self.output(self.att(x, ctx, ctx_mask), x)


class LxmertIntermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["hidden_size"], cfg["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))               # exact (erf) GeLU


class LxmertOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.dense = nn.Linear(cfg["intermediate_size"], H)
        self.LayerNorm = nn.LayerNorm(H, eps=cfg["layer_norm_eps"])
        self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class LxmertLayer(nn.Module):
    """A BERT layer: self-attention then GeLU feed-forward."""

    def __init__(self, cfg):
        super().__init__()
        self.attention = LxmertSelfAttentionLayer(cfg)
        self.intermediate = LxmertIntermediate(cfg)
        self.output = LxmertOutput(cfg)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class LxmertXLayer(nn.Module):
    """Cross-modality layer.  One cross-attention module (visual_attention)
    serves both directions, and both directions read the layer's inputs."""

    def __init__(self, cfg):
        super().__init__()
        self.visual_attention = LxmertCrossAttentionLayer(cfg)
        self.lang_self_att = LxmertSelfAttentionLayer(cfg)
        self.visn_self_att = LxmertSelfAttentionLayer(cfg)
        self.lang_inter = LxmertIntermediate(cfg)
        self.lang_output = LxmertOutput(cfg)
        self.visn_inter = LxmertIntermediate(cfg)
        self.visn_output = LxmertOutput(cfg)

    def forward(self, lang, lang_mask, visn, visn_mask):
        lang_x = self.visual_attention(lang, visn, visn_mask)
        visn_x = self.visual_attention(visn, lang, lang_mask)
        lang_s = self.lang_self_att(lang_x, lang_mask)
        visn_s = self.visn_self_att(visn_x, visn_mask)
        lang_out = self.lang_output(self.lang_inter(lang_s), lang_s)
        visn_out = self.visn_output(self.visn_inter(visn_s), visn_s)
        return lang_out, visn_out


class LxmertVisualFeatureEncoder(nn.Module):
    """(LN(visn_fc(feats)) + LN(box_fc(boxes))) / 2."""

    def __init__(self, cfg):
        super().__init__()
        H, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.visn_fc = nn.Linear(cfg["visual_feat_dim"], H)
        self.visn_layer_norm = nn.LayerNorm(H, eps=eps)
        self.box_fc = nn.Linear(cfg["visual_pos_dim"], H)
        self.box_layer_norm = nn.LayerNorm(H, eps=eps)
        self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])

    def forward(self, feats, pos):
        x = self.visn_layer_norm(self.visn_fc(feats))
        y = self.box_layer_norm(self.box_fc(pos))
        return self.dropout((x + y) / 2)


class LxmertEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.visn_fc = LxmertVisualFeatureEncoder(cfg)
        self.layer = nn.ModuleList([LxmertLayer(cfg) for _ in range(cfg["l_layers"])])
        self.x_layers = nn.ModuleList([LxmertXLayer(cfg) for _ in range(cfg["x_layers"])])
        self.r_layers = nn.ModuleList([LxmertLayer(cfg) for _ in range(cfg["r_layers"])])

    def forward(self, lang, lang_mask, feats, pos, visn_mask):
        """Returns the per-layer language and vision outputs (lists)."""
        visn = self.visn_fc(feats, pos)
        lang_states, visn_states = [], []
        for layer in self.layer:
            lang = layer(lang, lang_mask)
            lang_states.append(lang)
        for layer in self.r_layers:
            visn = layer(visn, visn_mask)
            visn_states.append(visn)
        for layer in self.x_layers:
            lang, visn = layer(lang, lang_mask, visn, visn_mask)
            lang_states.append(lang)
            visn_states.append(visn)
        return lang_states, visn_states


class LxmertPooler(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.dense = nn.Linear(H, H)

    def forward(self, lang):
        return torch.tanh(self.dense(lang[:, 0]))


class LxmertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = LxmertEmbeddings(cfg)
        self.encoder = LxmertEncoder(cfg)
        self.pooler = LxmertPooler(cfg)

    def forward(self, input_ids, attention_mask, token_type_ids,
                visual_feats, visual_pos, visual_attention_mask=None):
        B, N = visual_feats.shape[:2]
        dtype = visual_feats.dtype
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if visual_attention_mask is None:
            visual_attention_mask = torch.ones(B, N, dtype=dtype)
        lang = self.embeddings(input_ids, token_type_ids)
        lang_states, visn_states = self.encoder(
            lang, extended_mask(attention_mask, dtype),
            visual_feats, visual_pos, extended_mask(visual_attention_mask, dtype))
        pooled = self.pooler(lang_states[-1])
        return pooled, lang_states, visn_states


class LxmertVisualAnswerHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.logit_fc = nn.Sequential(
            nn.Linear(H, 2 * H),
            nn.GELU(),
            nn.LayerNorm(2 * H, eps=1e-12),
            nn.Linear(2 * H, cfg["num_qa_labels"]),
        )

    def forward(self, pooled):
        return self.logit_fc(pooled)


class LxmertForQuestionAnswering(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.lxmert = LxmertModel(cfg)
        self.answer_head = LxmertVisualAnswerHead(cfg)

    def forward(self, input_ids, attention_mask, token_type_ids,
                visual_feats, visual_pos, visual_attention_mask=None):
        """Returns (logits [B, A], language states, vision states)."""
        pooled, lang_states, visn_states = self.lxmert(
            input_ids, attention_mask, token_type_ids,
            visual_feats, visual_pos, visual_attention_mask)
        return self.answer_head(pooled), lang_states, visn_states

    def init_weights(self, std=0.02):
        """BERT-style random init: N(0, std) weights, zero biases, LN 1/0."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, std)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def bce_loss(logits, target):
    """LXMERT's VQA loss: mean BCE-with-logits times the number of answers."""
    return F.binary_cross_entropy_with_logits(logits, target) * logits.shape[1]


# ---------------------------------------------------------------------------
# --check: compare against a HuggingFace fixture
# ---------------------------------------------------------------------------

GRAD_SCALE_FLOOR = 1e-5


def run_check(fixture):
    with open(os.path.join(fixture, "config.json")) as f:
        cfg = make_config(json.load(f))
    model = LxmertForQuestionAnswering(cfg)
    weights = read_safetensors(os.path.join(fixture, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(v).float() for k, v in weights.items()},
                          strict=True)
    model.eval()                                   # dropout off; autograd stays on

    inp = {k: torch.from_numpy(v) for k, v in
           read_safetensors(os.path.join(fixture, "inputs.safetensors")).items()}
    ref_out = read_safetensors(os.path.join(fixture, "outputs.safetensors"))
    ref_grad = read_safetensors(os.path.join(fixture, "grads.safetensors"))

    logits, lang_states, visn_states = model(
        inp["input_ids"], inp["attention_mask"], inp["token_type_ids"],
        inp["visual_feats"].float(), inp["visual_pos"].float())
    loss = bce_loss(logits, inp["target"].float())
    model.zero_grad(set_to_none=True)
    loss.backward()

    mine = {"logits": logits, "bce_loss": loss.reshape(1)}
    mine.update({"language_hidden_states.%d" % i: t for i, t in enumerate(lang_states)})
    mine.update({"vision_hidden_states.%d" % i: t for i, t in enumerate(visn_states)})

    failures = 0

    def report(name, ok, diff, note=""):
        nonlocal failures
        failures += not ok
        print("%s %s maxdiff=%.3g%s" % (name, "OK" if ok else "MISMATCH", diff, note))

    # outputs
    for name in sorted(ref_out):
        ref = ref_out[name].astype(np.float64)
        if name not in mine:
            report(name, False, float("inf"), " (not produced)")
            continue
        got = mine[name].detach().double().numpy()
        if got.shape != ref.shape:
            report(name, False, float("inf"), " (shape %s vs %s)" % (got.shape, ref.shape))
            continue
        diff = float(np.abs(got - ref).max())
        if name == "bce_loss":
            tol = 1e-5 * float(np.abs(ref).max())
        else:
            tol = max(1e-4, 1e-4 * float(np.abs(ref).max()))
        report(name, diff <= tol, diff)
    for name in sorted(set(mine) - set(ref_out)):
        print("%s (no reference in the fixture)" % name)

    # gradients
    params = dict(model.named_parameters())
    for name in sorted(ref_grad):
        if name not in params:
            report("grad:" + name, False, float("inf"), " (no such parameter)")
            continue
        ref = ref_grad[name].astype(np.float64)
        g = params[name].grad
        got = np.zeros_like(ref) if g is None else g.double().numpy()
        diff = float(np.abs(got - ref).max())
        scale = float(np.abs(ref).max())
        # 1e-4 relative to the tensor's largest value.  Some gradients are
        # analytically zero and only rounding noise on both sides (the key
        # biases: softmax ignores a constant added to all of a query's
        # scores), so the scale has a floor of 1e-5 (absolute tolerance 1e-9).
        note = " (analytically ~0, absolute tolerance)" if scale < GRAD_SCALE_FLOOR else ""
        report("grad:" + name, diff <= 1e-4 * max(scale, GRAD_SCALE_FLOOR), diff, note)
    for name in sorted(set(params) - set(ref_grad)):
        g = params[name].grad
        diff = 0.0 if g is None else float(g.abs().max())
        report("grad:" + name, diff == 0.0, diff, " (no gradient expected)")

    total = len(ref_out) + len(params) + len(set(ref_grad) - set(params))
    print("check: %d tensors compared, %d mismatches" % (total, failures))
    return 1 if failures else 0


# ---------------------------------------------------------------------------
# --bench: time training steps
# ---------------------------------------------------------------------------

def train_step_flops(cfg, B, T, N):
    """Analytic FLOPs of one training step, counting GEMMs only.

    Each forward matmul of sizes M x K times K x N costs 2*M*N*K; backward is
    counted as two GEMMs of the same size (input and weight gradients), so a
    step is 3x the forward.  Attention score (Q K^T) and context (P V) batched
    matmuls are included; embeddings lookups, LayerNorm, softmax, GeLU and the
    optimizer are not.  This is a convention (e.g. no input gradient is really
    needed for visn_fc, and the last cross layer's vision branch gets no
    backward), used identically for both implementations.
    """
    H, I = cfg["hidden_size"], cfg["intermediate_size"]
    A = cfg["num_qa_labels"]

    def linear(rows, d_in, d_out):
        return 2 * rows * d_in * d_out

    def attention(s_q, s_k):
        # Q from the query side, K and V from the context, scores, context, output dense
        return (linear(B * s_q, H, H) + 2 * linear(B * s_k, H, H)
                + 2 * (2 * B * s_q * s_k * H) + linear(B * s_q, H, H))

    def bert_layer(s):
        return attention(s, s) + linear(B * s, H, I) + linear(B * s, I, H)

    fwd = linear(B * N, cfg["visual_feat_dim"], H) + linear(B * N, cfg["visual_pos_dim"], H)
    fwd += cfg["l_layers"] * bert_layer(T) + cfg["r_layers"] * bert_layer(N)
    fwd += cfg["x_layers"] * (attention(T, N) + attention(N, T) + bert_layer(T) + bert_layer(N))
    fwd += linear(B, H, H)                                  # pooler
    fwd += linear(B, H, 2 * H) + linear(B, 2 * H, A)        # answer head
    return 3 * fwd


def run_bench(args):
    shape = dict(SHAPES[args.shape])
    T, N = shape.pop("tokens"), shape.pop("boxes")
    warmup, steps = shape.pop("warmup"), shape.pop("steps")
    warmup = warmup if args.warmup is None else args.warmup
    steps = steps if args.steps is None else args.steps
    cfg = make_config(dict(shape, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    B = args.batch

    torch.manual_seed(args.seed)
    model = LxmertForQuestionAnswering(cfg)
    model.init_weights()
    model.train()                                  # dropout is 0: eval numerics, autograd on
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    input_ids = torch.randint(0, cfg["vocab_size"], (B, T))
    attention_mask = torch.ones(B, T, dtype=torch.int64)
    token_type_ids = torch.zeros(B, T, dtype=torch.int64)
    feats = torch.randn(B, N, cfg["visual_feat_dim"])
    boxes = torch.rand(B, N, cfg["visual_pos_dim"])
    target = torch.rand(B, cfg["num_qa_labels"])

    # one (input_ids, attention_mask, token_type_ids) per step: all T tokens, or the plan's
    inputs = [(input_ids, attention_mask, token_type_ids)] * (warmup + steps)
    if args.plan:
        with open(args.plan) as f:
            plan = [[int(x) for x in line.split()] for line in f if line.strip()]
        if len(plan) < warmup + steps or any(len(p) != B for p in plan):
            sys.exit("%s: %d steps of %d questions needed" % (args.plan, warmup + steps, B))
        inputs = []
        for lengths in plan[:warmup + steps]:
            t_step = T if args.padding == "fixed" else max(lengths)
            mask = (torch.arange(t_step)[None, :] < torch.tensor(lengths)[:, None]).long()
            inputs.append((input_ids[:, :t_step].contiguous(), mask,
                           torch.zeros(B, t_step, dtype=torch.int64)))

    def step(ids, mask, types):
        opt.zero_grad(set_to_none=True)
        logits, _, _ = model(ids, mask, types, feats, boxes)
        loss = bce_loss(logits, target)
        loss.backward()
        opt.step()
        return loss

    for k in range(warmup):
        step(*inputs[k])
    t0 = time.perf_counter()
    for k in range(warmup, warmup + steps):
        step(*inputs[k])
    elapsed = time.perf_counter() - t0

    step_s = elapsed / steps
    timed = inputs[warmup:]
    flops = sum(train_step_flops(cfg, B, ids.shape[1], N) for ids, _, _ in timed) / steps
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux
    if args.plan:
        print("torch shape=%s batch=%d threads=%d padding=%s mean_length=%.2f mean_T=%.2f "
              "samples_per_s=%.2f step_ms=%.1f peak_rss_mb=%.0f gflops=%.2f"
              % (args.shape, B, args.threads, args.padding,
                 sum(float(m.sum()) for _, m, _ in timed) / steps / B,
                 sum(ids.shape[1] for ids, _, _ in timed) / steps,
                 B / step_s, step_s * 1e3, peak_mb, flops / step_s / 1e9))
        return 0
    print("torch shape=%s batch=%d threads=%d samples_per_s=%.2f step_ms=%.1f "
          "peak_rss_mb=%.0f gflops=%.2f flops_per_step=%d"
          % (args.shape, B, args.threads, B / step_s, step_s * 1e3,
             peak_mb, flops / step_s / 1e9, flops))
    return 0


def run_sgemm(args):
    n = args.sgemm
    torch.manual_seed(args.seed)
    a, b = torch.randn(n, n), torch.randn(n, n)
    c = torch.mm(a, b)                             # warm-up
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    print("torch sgemm n=%d threads=%d gflops=%.2f" % (n, args.threads, 2.0 * n ** 3 / best / 1e9))
    return 0


def set_blas_threads(n):
    """Give OpenBLAS the same thread count as torch.

    Debian's torch does its GEMMs in the system BLAS (OpenBLAS), whose
    thread pool ignores torch.set_num_threads: without this, `--threads 1`
    would still multiply on every core, and `--threads 2` would run torch's
    OpenMP threads and OpenBLAS's threads on the same cores.  Returns the
    library's name, or None when no OpenBLAS is loaded.
    """
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))   # make sure the BLAS is loaded
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line and ".so" in line}
    except OSError:
        libs = set()
    for lib in sorted(libs):
        try:
            handle = ctypes.CDLL(lib)
            handle.openblas_set_num_threads(int(n))
            return os.path.basename(lib)
        except (OSError, AttributeError):
            continue
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", metavar="DIR", help="compare against a HuggingFace fixture")
    mode.add_argument("--bench", action="store_true", help="time training steps")
    mode.add_argument("--sgemm", type=int, metavar="N", help="time an NxN float32 torch.mm")
    p.add_argument("--shape", choices=sorted(SHAPES), default="base")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--steps", type=int, default=None, help="timed steps (base 3, tiny 20)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (base 1, tiny 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plan", metavar="FILE",
                   help="each step's question lengths, one line per step (bench_lxmert --plan)")
    p.add_argument("--padding", choices=["batch", "fixed"], default="batch",
                   help="with --plan: pad a step to its longest question or to the shape's length")
    p.add_argument("--openmp-as-installed", action="store_true",
                   help="leave OpenMP's wait policy at libgomp's default (read before torch loads)")
    args = p.parse_args(argv)

    # must happen before any parallel work
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    if set_blas_threads(args.threads) is None and args.bench:
        print("warning: no OpenBLAS found; BLAS threads not set", file=sys.stderr)

    if args.check:
        return run_check(args.check)
    if args.bench:
        return run_bench(args)
    return run_sgemm(args)


if __name__ == "__main__":
    sys.exit(main())
