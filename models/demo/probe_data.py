# Shared by the offline probes (heads_capacity_probe.py, token_prior_probe.py): the demo model, its tokenizer and text.
import os, sys, json, torch
D = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, D)
import train as T

torch.manual_seed(1)
torch.set_num_threads(2)
cfg = json.load(open(f'{D}/config.json'))
model = T.model_from_safetensors(f'{D}/model.safetensors', cfg)
_tj = json.load(open(f'{D}/tokenizer.json'))
tok = T.BpeTokenizer(_tj['model']['vocab'], [tuple(x.split(' ')) for x in _tj['model']['merges']])


def ids_of(path, limit):
    """The first `limit` token ids of a text file."""
    return T.hf_encode(tok, open(path, encoding='utf-8').read())[:limit]
