#!/usr/bin/env node
// Compares vigil-token-estimate with the real cl100k_base and o200k_base tokenizers on the
// sample (sample.jsonl) and prints the error per kind of text and overall.
//   node compare.mjs ../../build/tools/token_estimate/vigil-token-estimate
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';

const estimator = process.argv[2];
if (!estimator) {
  console.error('usage: node compare.mjs PATH/TO/vigil-token-estimate');
  process.exit(2);
}
const sample = new URL('./sample.jsonl', import.meta.url);
const rows = readFileSync(sample, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const estimates = execFileSync(estimator, [sample.pathname]).toString().trim().split('\n').map(Number);

const byKind = new Map();
const stat = (kind) => byKind.get(kind) ?? byKind.set(kind, { n: 0, est: 0, cl: 0, o2: 0, absCl: 0, absO2: 0 }).get(kind);
rows.forEach((row, i) => {
  const cl = encodeCl100k(row.text).length;
  const o2 = encodeO200k(row.text).length;
  for (const s of [stat(row.kind), stat('all')]) {
    s.n += 1; s.est += estimates[i]; s.cl += cl; s.o2 += o2;
    s.absCl += Math.abs(estimates[i] - cl) / Math.max(cl, 1);
    s.absO2 += Math.abs(estimates[i] - o2) / Math.max(o2, 1);
  }
});
const pct = (x) => `${(100 * x).toFixed(1)}%`;
console.log('kind        texts  estimate  cl100k  o200k  bias_vs_cl100k  mean_abs_err_cl100k  mean_abs_err_o200k');
for (const [kind, s] of byKind) {
  console.log(`${kind.padEnd(11)} ${String(s.n).padStart(5)}  ${String(s.est).padStart(8)}  ${String(s.cl).padStart(6)}  ${String(s.o2).padStart(5)}  ${pct(s.est / s.cl - 1).padStart(14)}  ${pct(s.absCl / s.n).padStart(19)}  ${pct(s.absO2 / s.n).padStart(18)}`);
}
