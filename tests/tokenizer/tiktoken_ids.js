// tiktoken_ids.js - ids of every line (without its newline) by tiktoken.
// usage: node tiktoken_ids.js MODULE_DIR gpt2|cl100k_base TEXT_FILE OUT
const path = require('path');
const fs = require('fs');
const tt = require(path.join(process.argv[2], 'node_modules', 'tiktoken'));
const enc = tt.get_encoding(process.argv[3]);
const lines = fs.readFileSync(process.argv[4], 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();
fs.writeFileSync(process.argv[5],
                 lines.map((l) => Array.from(enc.encode_ordinary(l)).join(' ')).join('\n') + '\n');
enc.free();
