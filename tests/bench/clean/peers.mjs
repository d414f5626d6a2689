// peers.mjs - the HTML-to-text peers on the same documents as bench_clean:
// npm html-to-text, and @mozilla/readability over linkedom (the Readability
// extractor datatrove offers). Reads JSONL {"html": ...}; prints MB/s per
// core (Node runs them on one thread), the median of N repetitions.
//   node peers.mjs FILE [REPS]
import { readFileSync } from "node:fs";
import { convert } from "html-to-text";
import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";

const [file, repsArg] = process.argv.slice(2);
const reps = Number(repsArg || 3);
const docs = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).html);
const bytes = docs.reduce((a, d) => a + Buffer.byteLength(d), 0);

function bench(name, fn) {
  const times = [];
  let out = 0, failures = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = process.cpuUsage(); // CPU time: the machine is shared
    out = 0;
    for (const d of docs) {
      try {
        out += fn(d).length;
      } catch (e) {
        failures++;
      }
    }
    const t = process.cpuUsage(t0);
    times.push((t.user + t.system) / 1e6);
  }
  times.sort((a, b) => a - b);
  const sec = times[Math.floor(reps / 2)];
  console.log(`peer ${name} docs=${docs.length} MB=${(bytes / 1e6).toFixed(2)} ${(bytes / 1e6 / sec).toFixed(1)} MB/s per core (text chars ${out}, failures ${failures / reps})`);
}

bench("html-to-text", (h) => convert(h, { wordwrap: false }));
bench("readability+linkedom", (h) => {
  const { document } = parseHTML(h);
  const art = new Readability(document).parse();
  return art && art.textContent ? art.textContent : "";
});
