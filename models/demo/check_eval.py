#!/usr/bin/python3
"""Independent check of eval.json: a plain-numpy forward pass of HF Mixtral (the forward pass uses neither
torch nor train.py's model code; train.py is used only for its BPE encoder, which check_tokenizer.mjs verifies against HF),
reading config.json, model.safetensors (bf16 -> fp32) and heldout.txt, scored with the protocol of
README.md; also re-generates the first greedy sample.
Run: /usr/bin/python3 models/demo/check_eval.py models/demo   (about a minute)"""
import json, struct, sys, numpy as np
d = sys.argv[1]
c = json.load(open(d + '/config.json'))
raw = open(d + '/model.safetensors', 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]; hdr = json.loads(raw[8:8 + n]); base = 8 + n
W = {}
for k, m in hdr.items():
    if k == '__metadata__': continue
    a, b = m['data_offsets']
    u16 = np.frombuffer(raw[base + a: base + b], dtype='<u2').astype(np.uint32) << 16
    W[k] = u16.view(np.float32).reshape(m['shape'])
sys.path.insert(0, d); import train as T
tj = json.load(open(d + '/tokenizer.json'))
tok = T.BpeTokenizer(tj['model']['vocab'], [tuple(x.split(' ')) for x in tj['model']['merges']])
ids = tok.encode(open(d + '/heldout.txt', encoding='utf-8').read())
H, KV, hd, E, K, eps = c['num_attention_heads'], c['num_key_value_heads'], c['head_dim'], c['num_local_experts'], c['num_experts_per_tok'], c['rms_norm_eps']
def rms(x, w): return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))
def silu(x): return x / (1 + np.exp(-x))
def forward(w):
    T_ = len(w); x = W['model.embed_tokens.weight'][w]
    inv = 1.0 / (c['rope_theta'] ** (np.arange(0, hd, 2, dtype=np.float32) / hd))
    ang = np.arange(T_, dtype=np.float32)[:, None] * inv[None]; cos = np.cos(np.concatenate([ang, ang], 1)); sin = np.sin(np.concatenate([ang, ang], 1))
    def rope(q):  # [h, T, hd]
        h2 = hd // 2; rot = np.concatenate([-q[..., h2:], q[..., :h2]], -1); return q * cos + rot * sin
    mask = np.triu(np.full((T_, T_), -np.inf, dtype=np.float32), 1)
    for l in range(c['num_hidden_layers']):
        p = f'model.layers.{l}.'
        hn = rms(x, W[p + 'input_layernorm.weight'])
        q = (hn @ W[p + 'self_attn.q_proj.weight'].T).reshape(T_, H, hd).transpose(1, 0, 2)
        k = (hn @ W[p + 'self_attn.k_proj.weight'].T).reshape(T_, KV, hd).transpose(1, 0, 2)
        v = (hn @ W[p + 'self_attn.v_proj.weight'].T).reshape(T_, KV, hd).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        out = np.empty((H, T_, hd), np.float32)
        for h in range(H):
            s = q[h] @ k[h // (H // KV)].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
            out[h] = s @ v[h // (H // KV)]
        x = x + out.transpose(1, 0, 2).reshape(T_, H * hd) @ W[p + 'self_attn.o_proj.weight'].T
        hn = rms(x, W[p + 'post_attention_layernorm.weight'])
        lg = hn @ W[p + 'block_sparse_moe.gate.weight'].T
        pr = np.exp(lg - lg.max(-1, keepdims=True)); pr /= pr.sum(-1, keepdims=True)
        top = np.argsort(-pr, -1, kind='stable')[:, :K]
        y = np.zeros_like(x)
        for t in range(T_):
            ws = pr[t, top[t]]; ws = ws / ws.sum()
            for e, we in zip(top[t], ws):
                q_ = f'{p}block_sparse_moe.experts.{e}.'
                y[t] += we * (silu(hn[t] @ W[q_ + 'w1.weight'].T) * (hn[t] @ W[q_ + 'w3.weight'].T)) @ W[q_ + 'w2.weight'].T
        x = x + y
    return rms(x, W['model.norm.weight']) @ W['lm_head.weight'].T
tot = 0.0; cnt = 0
for s in range(0, len(ids), 256):
    w = ids[s:s + 256]
    if len(w) < 2: continue
    lo = forward(np.array(w)).astype(np.float64)
    lse = np.log(np.exp(lo - lo.max(-1, keepdims=True)).sum(-1)) + lo.max(-1)
    tot += float((lse[:-1] - lo[np.arange(len(w) - 1), w[1:]]).sum()); cnt += len(w) - 1
ev = json.load(open(d + '/eval.json'))
rel = abs(tot / cnt - ev['mean_nll']) / ev['mean_nll']
print(f"numpy: mean_nll {tot / cnt:.6f} over {cnt}; eval.json {ev['mean_nll']:.6f}; rel diff {rel:.2e}")
sm = json.load(open(d + '/samples.json'))[0]
ids2 = list(sm['prompt_ids'])
for _ in range(len(sm['generated_ids'])):
    ids2.append(int(forward(np.array(ids2))[-1].argmax()))
same = ids2[len(sm['prompt_ids']):] == sm['generated_ids']
print("greedy sample 0 equal:", same)
# fp32 vs fp32 with different summation order: 1e-4 relative is far above rounding, far below any bug
sys.exit(0 if rel < 1e-4 and cnt == ev['predicted_tokens'] and same else 1)
