// hf_bench.js - HF tokenizers (npm, native) and tiktoken (npm, WASM) encode
// speed on the lines of one file, one thread (run with RAYON_NUM_THREADS=1).
// usage: node hf_bench.js MODULE_DIR hf TOKENIZER_JSON TEXT_FILE
//        node hf_bench.js MODULE_DIR tiktoken gpt2|cl100k_base TEXT_FILE
const path = require('path');
const fs = require('fs');
const [modDir, which, model, file] = process.argv.slice(2);
const text = fs.readFileSync(file, 'utf8');
const bytes = Buffer.byteLength(text, 'utf8');
const lines = text.split(/(?<=\n)/);

async function main() {
  let tokens = 0;
  let t0, c0;
  if (which === 'hf') {
    const tk = require(path.join(modDir, 'node_modules', 'tokenizers'));
    const tok = tk.Tokenizer.fromFile(model);
    t0 = process.hrtime.bigint();
    c0 = process.cpuUsage();
    const batch = 1000;
    for (let i = 0; i < lines.length; i += batch) {
      const enc = await tok.encodeBatch(lines.slice(i, i + batch));
      for (const e of enc) tokens += e.getLength();
    }
  } else {
    const tt = require(path.join(modDir, 'node_modules', 'tiktoken'));
    const enc = tt.get_encoding(model);
    t0 = process.hrtime.bigint();
    c0 = process.cpuUsage();
    for (const l of lines) tokens += enc.encode_ordinary(l).length;
    enc.free();
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cu = process.cpuUsage(c0);
  const cs = (cu.user + cu.system) / 1e6; // the whole process: node's own threads too
  const name = which === 'hf' ? 'hf-tokenizers encodeBatch' : `tiktoken ${model} encode_ordinary`;
  console.log(`${name}: threads=1 bytes=${bytes} tokens=${tokens} seconds=${s.toFixed(3)} ` +
              `cpu_s=${cs.toFixed(3)} mb_per_cpu_s=${(bytes / cs / 1e6).toFixed(2)} ` +
              `mb_per_s=${(bytes / s / 1e6).toFixed(2)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
