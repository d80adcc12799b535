#!/usr/bin/python3
"""PyTorch reference implementation of VisualBERT for VQA, with two answer heads.

The model is HuggingFace's VisualBertModel (modeling_visual_bert.py), written
here in plain PyTorch with the same parameter names and layouts, so that a
HuggingFace state dict loads with load_state_dict(strict=True):

  * Linear weights are [out, in]; LayerNorm eps is the config's
    layer_norm_eps; the GeLU is the exact (erf) one, HuggingFace's "gelu".
  * Text embeddings: word (padding_idx = pad_token_id, so that row gets no
    gradient) + token type (default 0) + position (0 .. T-1).
  * Visual embeddings: visual_projection(visual_embeds)
    + visual_token_type_embeddings[1] + visual_position_embeddings[0], the
    defaults HuggingFace uses when no visual_token_type_ids and no
    image_text_alignment are given.
  * The text and visual embeddings are concatenated, text first, and go
    through one LayerNorm and dropout; their masks are concatenated the same
    way (the visual mask is all ones; a missing text mask is all ones too),
    and the encoder adds (1 - mask) * finfo(dtype).min to the attention
    scores of every query, as HuggingFace's get_extended_attention_mask does.
  * A single-stream BERT encoder of num_hidden_layers layers, and the pooler:
    tanh(dense(hidden[:, 0])).

Paths of HuggingFace's model that are not implemented, because neither the
paper authors nor vqaprune use them: image_text_alignment (visual positions
from aligned words), bypass_transformer, explicit position_ids,
visual_token_type_ids, visual_attention_mask, head_mask, inputs_embeds.

A VisualBERT layer is a BERT layer; so is LXMERT's language layer, whose
implementation in lxmert_ref.py (checked there against HuggingFace's LXMERT)
has the same parameter paths and is reused here, as are its pooler, its
attention-mask helper, its BCE loss and its safetensors reader and writer.

Heads:
  * VisualBertForQuestionAnswering (HuggingFace): the last layer's hidden
    state at text position attention_mask.sum(1) - 2 (the token before the
    final [SEP]), dropout, cls = Linear(H, num_labels). Its loss is
    KLDivLoss(reduction="batchmean") of log_softmax(logits) against the
    target scores (kl_loss below).
  * VisualBertWithSimpleClassifier (the paper authors' VisualBERT, their
    modified VisualBertForMultipleChoice): the pooled output, dropout, then
    cls = SimpleClassifier: weight_norm(Linear(H, 2H), dim=None), ReLU,
    Dropout(0.5), weight_norm(Linear(2H, A), dim=None). Called as the
    authors do, with input_ids and visual_embeds only. Their "normal" loss
    is the model's own: CrossEntropyLoss(logits, target) with the soft
    target scores as class probabilities (soft_ce_loss below).

Only the standard library, torch and numpy are used.
"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lxmert_ref import (  # noqa: E402
    LxmertLayer,
    LxmertPooler,
    bce_loss,
    extended_mask,
    read_safetensors,
    write_safetensors,
)

# bce_loss and the safetensors reader and writer are re-exported, so that
# callers need this module only
__all__ = [
    "CONFIG_DEFAULTS", "make_config", "VisualBertEmbeddings", "VisualBertEncoder",
    "VisualBertModel", "qa_gather_index", "VisualBertForQuestionAnswering",
    "SimpleClassifier", "VisualBertWithSimpleClassifier", "init_body_weights",
    "bce_loss", "kl_loss", "soft_ce_loss", "read_safetensors", "write_safetensors",
]


# ---------------------------------------------------------------------------
# Configuration (HuggingFace VisualBertConfig keys and defaults)
# ---------------------------------------------------------------------------

CONFIG_DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "visual_embedding_dim": 512,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "bypass_transformer": False,
    "special_visual_initialize": True,
    "pad_token_id": 1,
}


def make_config(d):
    """A config dict from a config.json dict: defaults filled in, the number
    of answers in "num_labels" (from num_labels, else id2label, else the
    authors' ans_num), and the unimplemented options refused."""
    cfg = dict(CONFIG_DEFAULTS)
    cfg.update(d)
    if "num_labels" not in d:
        if "id2label" in d:
            cfg["num_labels"] = len(d["id2label"])
        elif "ans_num" in d:
            cfg["num_labels"] = d["ans_num"]
        else:
            raise ValueError("config has no num_labels, id2label or ans_num")
    if cfg["hidden_act"] != "gelu":
        raise ValueError("only hidden_act=gelu (exact erf GeLU) is implemented")
    if cfg["bypass_transformer"]:
        raise ValueError("bypass_transformer is not implemented")
    if cfg["hidden_size"] % cfg["num_attention_heads"] != 0:
        raise ValueError("hidden_size must be a multiple of num_attention_heads")
    return cfg


# ---------------------------------------------------------------------------
# Model. Attribute paths are HuggingFace's, so parameter names match.
# ---------------------------------------------------------------------------

class VisualBertEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H, P, V = cfg["hidden_size"], cfg["max_position_embeddings"], cfg["type_vocab_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], H, padding_idx=cfg["pad_token_id"])
        self.position_embeddings = nn.Embedding(P, H)
        self.token_type_embeddings = nn.Embedding(V, H)
        self.LayerNorm = nn.LayerNorm(H, eps=cfg["layer_norm_eps"])
        self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])
        self.visual_token_type_embeddings = nn.Embedding(V, H)
        self.visual_position_embeddings = nn.Embedding(P, H)
        self.visual_projection = nn.Linear(cfg["visual_embedding_dim"], H)

    def forward(self, input_ids, token_type_ids, visual_embeds):
        B, T = input_ids.shape
        N = visual_embeds.shape[1]
        device = input_ids.device
        text = (self.word_embeddings(input_ids)
                + self.token_type_embeddings(token_type_ids)
                + self.position_embeddings(torch.arange(T, device=device))[None])
        visual_type = torch.ones(B, N, dtype=torch.long, device=device)
        visual_position = torch.zeros(B, N, dtype=torch.long, device=device)
        visual = (self.visual_projection(visual_embeds)
                  + self.visual_position_embeddings(visual_position)
                  + self.visual_token_type_embeddings(visual_type))
        return self.dropout(self.LayerNorm(torch.cat((text, visual), dim=1)))


class VisualBertEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([LxmertLayer(cfg) for _ in range(cfg["num_hidden_layers"])])

    def forward(self, x, mask):
        """Returns every layer's output (a list)."""
        states = []
        for layer in self.layer:
            x = layer(x, mask)
            states.append(x)
        return states


class VisualBertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = VisualBertEmbeddings(cfg)
        self.encoder = VisualBertEncoder(cfg)
        self.pooler = LxmertPooler(cfg)

    def forward(self, input_ids, visual_embeds, attention_mask=None, token_type_ids=None):
        """Returns (sequence output [B, T+N, H], pooled [B, H], hidden states):
        hidden states as HuggingFace's output_hidden_states gives them, the
        embedding output then each layer's output."""
        B, N = visual_embeds.shape[:2]
        dtype = visual_embeds.dtype
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        visual_mask = torch.ones(B, N, dtype=attention_mask.dtype, device=attention_mask.device)
        mask = extended_mask(torch.cat((attention_mask, visual_mask), dim=1), dtype)
        embedded = self.embeddings(input_ids, token_type_ids, visual_embeds)
        states = self.encoder(embedded, mask)
        return states[-1], self.pooler(states[-1]), [embedded] + states


def qa_gather_index(attention_mask):
    """HuggingFace's VisualBertForQuestionAnswering reads the hidden state at
    attention_mask.sum(1) - 2: for "[CLS] w1 .. wk [SEP]" the last word wk."""
    index = attention_mask.sum(1) - 2
    if (index < 0).any():
        raise ValueError("every question needs at least 2 unmasked tokens")
    return index


class VisualBertForQuestionAnswering(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.visual_bert = VisualBertModel(cfg)
        self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])
        self.cls = nn.Linear(cfg["hidden_size"], cfg["num_labels"])

    def forward(self, input_ids, visual_embeds, attention_mask, token_type_ids=None):
        """Returns (logits [B, A] before any log-softmax, pooled, hidden states).
        HuggingFace requires attention_mask here: it sizes the gather."""
        sequence, pooled, states = self.visual_bert(
            input_ids, visual_embeds, attention_mask, token_type_ids)
        index = qa_gather_index(attention_mask)
        gathered = sequence[torch.arange(sequence.shape[0], device=sequence.device), index]
        return self.cls(self.dropout(gathered)), pooled, states


class SimpleClassifier(nn.Module):
    """The paper authors' answer head (their classifier.py, norm='weight',
    act='ReLU'): main.0 and main.3 hold weight_g (a 0-d gain), weight_v and
    bias; the weight used is weight_g * weight_v / ||weight_v||_F."""

    def __init__(self, in_dim, hid_dim, out_dim, dropout=0.5):
        super().__init__()
        self.main = nn.Sequential(
            nn.utils.weight_norm(nn.Linear(in_dim, hid_dim), dim=None),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.utils.weight_norm(nn.Linear(hid_dim, out_dim), dim=None),
        )

    def forward(self, x):
        return self.main(x)


class VisualBertWithSimpleClassifier(nn.Module):
    """The paper authors' VisualBERT for VQA: body visual_bert.*, then
    dropout(hidden_dropout_prob) and cls = SimpleClassifier(H, 2H, A) on the
    pooled output."""

    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.visual_bert = VisualBertModel(cfg)
        self.dropout = nn.Dropout(cfg["hidden_dropout_prob"])
        self.cls = SimpleClassifier(H, 2 * H, cfg["num_labels"])

    def forward(self, input_ids, visual_embeds, attention_mask=None, token_type_ids=None):
        """Returns (logits [B, A], pooled, hidden states)."""
        _, pooled, states = self.visual_bert(input_ids, visual_embeds, attention_mask, token_type_ids)
        return self.cls(self.dropout(pooled)), pooled, states


def init_body_weights(model, std):
    """HuggingFace's _init_weights on the body: N(0, std) Linear and
    Embedding weights with the padding row zeroed, zero biases, LayerNorm
    weight 1 and bias 0. The SimpleClassifier keeps PyTorch's own init."""
    for m in model.visual_bert.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, std)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
            elif m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------
# Losses. target: [B, A] VQA soft scores in [0, 1].
# ---------------------------------------------------------------------------

def kl_loss(logits, target):
    """HuggingFace VisualBertForQuestionAnswering's loss:
    sum_{b,a} t * (log t - log_softmax(logits)) / B, with 0 log 0 = 0."""
    return F.kl_div(F.log_softmax(logits, dim=-1), target, reduction="batchmean")


def soft_ce_loss(logits, target):
    """The authors' VisualBERT "normal" loss, CrossEntropyLoss with the soft
    scores as probabilities: mean_b( -sum_a t * log_softmax(logits) )."""
    return F.cross_entropy(logits, target)
