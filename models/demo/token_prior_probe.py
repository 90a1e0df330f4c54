# Offline probe (research, session 14): does the token id, or the model's own early guess of the next token, predict
# routing better than the lookahead heads? A token routing prior table[v][m] = mean router distribution of layer m at
# positions holding token v (calibration text, 2 pseudo-observations of the layer mean), scored by recall@2 against
# the trained heads (models/demo/lookahead-heads.safetensors) on held-out human text and on the model's greedy
# continuations of the bench prompts (what the engine decodes). Next-token guesses: early exit, i.e.
# softmax(lm_head(norm(h))) of layer l's MoE input, mixed over the table ("mix") or its argmax's row ("top1").
# Needs Debian's python3-torch and /tmp/demo-calib-all.txt (made as docs/gate.md says):
#   /usr/bin/python3 models/demo/token_prior_probe.py         (about 3 minutes on 2 cores)
# Results: docs/gate.md, "Token routing prior and early exit".
import json, struct, torch
from probe_data import D, T, cfg, model, tok, ids_of
L = cfg['num_hidden_layers']; E = cfg['num_local_experts']; V = cfg['vocab_size']

@torch.no_grad()
def collect(ids, window=256):
    """Per layer: MoE input h [N, D], router distribution [N, E], chosen top-2 [N, 2]; token ids [N]; final logits [N, V]."""
    H = [[] for _ in range(L)]; P = [[] for _ in range(L)]; K = [[] for _ in range(L)]; I = []; F = []
    for s in range(0, len(ids) - 1, window):
        w = ids[s:s + window]
        if len(w) < 3: continue
        tr = {}
        logits, router = model(torch.tensor([w]), trace=tr)
        for l in range(L):
            H[l].append(tr['h_attn'][l]); P[l].append(torch.softmax(router[l].float(), -1)); K[l].append(tr['topk'][l])
        I.append(torch.tensor(w)); F.append(logits[0].float())
    return [torch.cat(x) for x in H], [torch.cat(x) for x in P], [torch.cat(x) for x in K], torch.cat(I), torch.cat(F)

@torch.no_grad()
def greedy(prompts, n=128):
    out = []
    for p in prompts:
        ids = T.hf_encode(tok, p)
        for _ in range(n):
            lg, _ = model(torch.tensor([ids[-256:]])); ids.append(int(lg[0, -1].argmax()))
        out.extend(ids)
    return out

def recall(scores, chosen, k=2):
    top = scores.topk(k, -1).indices
    return float((top.unsqueeze(-1) == chosen.unsqueeze(-2)).any(-1).float().sum(-1).mean() / k)

raw = open(f'{D}/lookahead-heads.safetensors', 'rb').read(); n = struct.unpack('<Q', raw[:8])[0]; hdr = json.loads(raw[8:8 + n])
def tensor(name):
    a, b = hdr[name]['data_offsets']
    return torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=torch.float32).reshape(hdr[name]['shape'])
def head(l, d, h):  # the engine's head: W . h / rms(h) + b (docs/gate.md)
    return (h / torch.sqrt((h * h).mean(-1, keepdim=True) + cfg['rms_norm_eps'])) @ tensor(f'lookahead.{l}.{d}.weight').T \
        + tensor(f'lookahead.{l}.{d}.bias')

Hc, Pc, Kc, Ic, _ = collect(ids_of('/tmp/demo-calib-all.txt', 60000))
tables = []
for m in range(L):
    mean = Pc[m].mean(0)
    s = torch.zeros(V, E).index_add_(0, Ic, Pc[m]); c = torch.zeros(V).index_add_(0, Ic, torch.ones(len(Ic)))
    tables.append((s + 2 * mean) / (c + 2).unsqueeze(-1))

@torch.no_grad()
def evaluate(name, ids):
    H, P, K, I, F = collect(ids)
    print(f'== {name}: {len(I)} tokens')
    print('this token, layer 0 -> m: head (0, m), prior row of the token, 0.3 head + 0.7 prior')
    for m in range(1, L):
        hs = torch.softmax(head(0, m, H[0]), -1); tb = tables[m][I]
        print(f"  layer {m}: head {recall(hs, K[m]):.3f}  prior {recall(tb, K[m]):.3f}  mix {recall(0.3 * hs + 0.7 * tb, K[m]):.3f}")
    print("next token, layer m': next-token head (m, L) | prior row of the true next token | early exit from layer 5 (mix, top1)")
    ee = torch.softmax(model.lm_head(model.norm(H[L - 1][:-1])).float(), -1)
    for m in range(L):
        hs = torch.softmax(head(m, L, H[m][:-1]), -1)
        print(f"  layer {m}': head {recall(hs, K[m][1:]):.3f} | prior {recall(tables[m][I[1:]], K[m][1:]):.3f} | "
              f"early exit {recall(ee @ tables[m], K[m][1:]):.3f}, {recall(tables[m][ee.argmax(-1)], K[m][1:]):.3f}")
    final = F[:-1].argmax(-1)
    for l in range(L):
        guess = model.lm_head(model.norm(H[l][:-1])).argmax(-1)
        print(f'  early exit at layer {l}: argmax = the final argmax {float((guess == final).float().mean()):.3f}')

evaluate('held-out human text', ids_of(f'{D}/heldout.txt', 60000))
evaluate('greedy continuations of the bench prompts', greedy([l.strip() for l in open(f'{D}/bench-prompts.txt') if l.strip()]))
