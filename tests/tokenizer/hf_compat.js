// hf_compat.js - the HuggingFace side of test_hf_compat.sh.
// usage: node hf_compat.js MODULE_DIR CMD ARGS...
//   encode TOKENIZER_JSON TEXT_FILE OUT   ids of each line (no newline) and of
//                                         the whole file, one line of ids each
//   train TEXT_FILE OUT_JSON              byte-level BPE, default trainer
const path = require('path');
const fs = require('fs');
const tk = require(path.join(process.argv[2], 'node_modules', 'tokenizers'));
const cmd = process.argv[3];

async function main() {
  if (cmd === 'encode') {
    const tok = tk.Tokenizer.fromFile(process.argv[4]);
    const text = fs.readFileSync(process.argv[5], 'utf8');
    const lines = text.split('\n');
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    const out = [];
    const batch = 256;
    for (let i = 0; i < lines.length; i += batch) {
      const enc = await tok.encodeBatch(lines.slice(i, i + batch));
      for (const e of enc) out.push(e.getIds().join(' '));
    }
    const whole = await tok.encode(text);
    out.push(whole.getIds().join(' '));
    fs.writeFileSync(process.argv[6], out.join('\n') + '\n');
  } else if (cmd === 'train') {
    const tok = new tk.Tokenizer(tk.BPE.empty());
    tok.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
    tok.train([process.argv[4]]);
    tok.save(process.argv[5], true);
  } else {
    throw new Error('unknown command ' + cmd);
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
