// Independent check of models/demo/tokenizer.json against two Hugging Face implementations:
//   @anush008/tokenizers@0.6.0  (Node bindings of the Rust `tokenizers` crate, the HF reference)
//   @huggingface/tokenizers@0.2.0 (HF's pure-JS tokenizers.js)
// Neither is a project dependency; install them in a scratch folder:
//   npm install --prefix /tmp/hftok @anush008/tokenizers@0.6.0 @huggingface/tokenizers@0.2.0
//   NODE_PATH=/tmp/hftok/node_modules node models/demo/check_tokenizer.mjs models/demo
// Compares every vector of tokenizer_vectors.json (ids written by train.py's own encoder) and the
// whole held-out stream (count + sha256 of the comma-joined ids), and the decode round trip.
// Exits 1 on any mismatch.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";

const require = createRequire(import.meta.url);
const dir = process.argv[2] ?? path.dirname(new URL(import.meta.url).pathname);
const read = (f) => readFileSync(path.join(dir, f), "utf8");
const vectors = JSON.parse(read("tokenizer_vectors.json"));
const heldout = read("heldout.txt");

const rust = require("@anush008/tokenizers").Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
const jsModPath = require.resolve("@huggingface/tokenizers").replace(/tokenizers\.(c|m)?js$/, "tokenizers.mjs");
const { Tokenizer: JsTokenizer } = await import(jsModPath);
const js = new JsTokenizer(JSON.parse(read("tokenizer.json")), JSON.parse(read("tokenizer_config.json")));

const impls = {
  "rust(@anush008/tokenizers)": async (t) => Array.from((await rust.encode(t, null, { addSpecialTokens: true })).getIds()),
  "js(@huggingface/tokenizers)": async (t) => Array.from(js.encode(t, { add_special_tokens: true }).ids),
};
const decoders = {
  "rust(@anush008/tokenizers)": async (ids) => rust.decode(ids, true),
  "js(@huggingface/tokenizers)": async (ids) => js.decode(ids, { skip_special_tokens: true }),
};

let failures = 0;
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
for (const [name, enc] of Object.entries(impls)) {
  let ok = 0;
  for (const v of vectors.vectors) {
    const got = await enc(v.text);
    if (same(got, v.ids)) ok++;
    else {
      failures++;
      console.log(`${name}: MISMATCH for ${JSON.stringify(v.text)}\n  expected ${v.ids}\n  got      ${got}`);
    }
  }
  const ids = await enc(heldout);
  const sha = createHash("sha256").update(ids.join(",")).digest("hex");
  const heldOk = ids.length === vectors.heldout.count && sha === vectors.heldout.sha256_of_comma_joined_ids;
  if (!heldOk) failures++;
  const back = await decoders[name](ids);
  const roundOk = back === heldout;
  if (!roundOk) failures++;
  console.log(`${name}: vectors ${ok}/${vectors.vectors.length} equal; held-out stream ` +
    `${heldOk ? "equal" : "DIFFERENT"} (${ids.length} ids vs ${vectors.heldout.count}); ` +
    `decode round trip ${roundOk ? "exact" : "DIFFERENT"}`);
}
process.exit(failures === 0 ? 0 : 1);
