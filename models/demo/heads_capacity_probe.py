# Offline probe (research, session 13): how much held-out recall@2 can next-token heads gain from capacity?
# A linear head from the router (what `lookahead align` trains) against residual MLP heads of 256 and 1024 hidden
# units, same KL objective, Adam and early stopping. Needs Debian's python3-torch: /usr/bin/python3 heads_capacity_probe.py
# (expects /tmp/demo-calib-all.txt, made as docs/gate.md says). Results: docs/gate.md, "Capacity of the heads".
import torch, torch.nn as nn, torch.nn.functional as F
from probe_data import D, cfg, model, ids_of
@torch.no_grad()
def collect(ids, window=256):
    X = [[] for _ in range(cfg['num_hidden_layers'])]; P = [[] for _ in X]; K = [[] for _ in X]
    for s in range(0, len(ids) - 1, window):
        w = ids[s:s + window]
        if len(w) < 3: continue
        tr = {}
        _, logits = model(torch.tensor([w]), trace=tr)
        for l, layer in enumerate(model.layers):
            xn = layer.post_attention_layernorm(tr['h_attn'][l])            # router input [T, D]
            p = torch.softmax(logits[l].float(), -1)                           # [T, E]
            # next-token head at layer l: input token t, target token t+1 of the same window
            X[l].append(xn[:-1]); P[l].append(p[1:]); K[l].append(tr['topk'][l][1:])
    return [torch.cat(x) for x in X], [torch.cat(p) for p in P], [torch.cat(k) for k in K]
calib = ids_of('/tmp/demo-calib-all.txt', 60000)
held = ids_of(f'{D}/heldout.txt', 60000)
Xc, Pc, Kc = collect(calib); Xh, Ph, Kh = collect(held)
print('tokens', Xc[0].shape[0], Xh[0].shape[0], flush=True)
def recall(scores, k_true, k=2):
    top = scores.topk(k, -1).indices
    hit = (top.unsqueeze(-1) == k_true.unsqueeze(-2)).any(-1).float().sum(-1)
    return float(hit.mean() / k)
class Head(nn.Module):
    def __init__(self, router_w, hidden):
        super().__init__()
        self.lin = nn.Linear(router_w.shape[1], router_w.shape[0], bias=False)
        self.lin.weight.data.copy_(router_w)
        self.hidden = hidden
        if hidden:
            self.up = nn.Linear(router_w.shape[1], hidden); self.down = nn.Linear(hidden, router_w.shape[0])
            nn.init.zeros_(self.down.weight); nn.init.zeros_(self.down.bias)
    def forward(self, x):
        y = self.lin(x)
        return y + self.down(F.silu(self.up(x))) if self.hidden else y
def fit(l, hidden, epochs=30, lr=1e-3, batch=128):
    head = Head(model.layers[l].block_sparse_moe.gate.weight.detach().clone(), hidden)
    X, P = Xc[l], Pc[l]; n = X.shape[0]; nv = n // 10
    Xf, Pf, Xv, Pv = X[:-nv], P[:-nv], X[-nv:], P[-nv:]
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    def kl(x, p):
        return F.kl_div(F.log_softmax(head(x), -1), p, reduction='batchmean')
    best, best_state, bad = float('inf'), None, 0
    for ep in range(epochs):
        perm = torch.randperm(Xf.shape[0])
        for i in range(0, len(perm), batch):
            b = perm[i:i + batch]; opt.zero_grad(); loss = kl(Xf[b], Pf[b]); loss.backward(); opt.step()
        with torch.no_grad(): v = float(kl(Xv, Pv))
        if v < best - 1e-5: best, best_state, bad = v, {k: t.clone() for k, t in head.state_dict().items()}, 0
        else:
            bad += 1
            if bad >= 3: break
    head.load_state_dict(best_state)
    with torch.no_grad():
        return recall(head(Xh[l]), Kh[l]), float(F.kl_div(F.log_softmax(head(Xh[l]), -1), Ph[l], reduction='batchmean'))
for l in range(cfg['num_hidden_layers']):
    with torch.no_grad():
        pnp = recall(model.layers[l].block_sparse_moe.gate(Xh[l]), Kh[l])
    row = [f'layer {l}: plug-and-play r@2 {pnp:.3f}']
    for hidden in (0, 256, 1024):
        r, k = fit(l, hidden)
        row.append(f'{"linear" if hidden == 0 else f"mlp{hidden}"} {r:.3f} (kl {k:.3f})')
    print(' | '.join(row), flush=True)
