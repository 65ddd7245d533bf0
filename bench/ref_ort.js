#!/usr/bin/env node
// ONNX Runtime reference for bench/run.sh: times an ONNX export's forward pass on the CPU
// execution provider (onnxruntime-node from bench/node_modules, installed by bench/setup.sh).
//
// Usage: node bench/ref_ort.js MODEL.onnx [--imgsz 640] [--runs 10] [--warmup 3] [--threads 2]
// Prints one line: RESULT<TAB>onnxruntime-node <version><TAB>median_ms<TAB>min_ms<TAB>peak_rss_mib
// (peak RSS = process.resourceUsage().maxRSS, KiB, of this node process). Warm-up runs excluded.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
const ortVersion = require(path.join(__dirname, 'node_modules', 'onnxruntime-node', 'package.json')).version;

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

// Deterministic pseudo-random input in [0, 1) (the values do not matter for the timing).
function fill(n) {
  const a = new Float32Array(n);
  let s = 12345 >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 8) / 16777216;
  }
  return a;
}

async function main() {
  const model = process.argv[2];
  if (!model || model.startsWith('--')) {
    console.error('usage: node bench/ref_ort.js MODEL.onnx [--imgsz N] [--runs R] [--warmup W] [--threads T]');
    process.exit(2);
  }
  const imgsz = arg('--imgsz', 640), runs = arg('--runs', 10), warmup = arg('--warmup', 3);
  const threads = arg('--threads', 2);
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const input = new ort.Tensor('float32', fill(3 * imgsz * imgsz), [1, 3, imgsz, imgsz]);
  const feeds = { [sess.inputNames[0]]: input };
  const times = [];
  let out;
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = process.hrtime.bigint();
    out = await sess.run(feeds);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= warmup) times.push(dt);
  }
  if (!out[sess.outputNames[0]]) throw new Error('no output');
  times.sort((a, b) => a - b);
  const m = times.length;
  const median = m % 2 ? times[(m - 1) / 2] : (times[m / 2 - 1] + times[m / 2]) / 2;
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(`RESULT\tonnxruntime-node ${ortVersion} (CPU EP, intra ${threads} / inter 1)\t${median.toFixed(2)}\t${times[0].toFixed(2)}\t${rssMiB.toFixed(1)}`);
}

main().catch((e) => { console.error(`ref_ort.js: ${e.message || e}`); process.exit(1); });
