// Runs the generated module's attention on random inputs and compares it with attention in
// float64 under the same (causal) mask. With ?report, the result is also POSTed to /result
// (how the headless-browser test reads it).
import { attention, SPEC } from "./causal.webgpu.js";

const H = 2;
const N = 100;
const D = SPEC.d;

/** Deterministic inputs in [-1, 1): a 32-bit xorshift. */
function tensor(count, seed) {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Causal attention in float64: query i sees keys 0 .. i. */
function reference(q, k, v) {
  const out = new Float64Array(H * N * D);
  const scale = 1 / Math.sqrt(D);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < N; i++) {
      const s = new Float64Array(i + 1);
      let m = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let x = 0; x < D; x++) dot += q[(h * N + i) * D + x] * k[(h * N + j) * D + x];
        s[j] = dot * scale;
        m = Math.max(m, s[j]);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += (s[j] = Math.exp(s[j] - m));
      for (let j = 0; j <= i; j++) for (let x = 0; x < D; x++) out[(h * N + i) * D + x] += (s[j] / sum) * v[(h * N + j) * D + x];
    }
  }
  return out;
}

async function main() {
  if (!navigator.gpu) throw new Error("this browser has no WebGPU (navigator.gpu is missing)");
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  const device = await adapter.requestDevice({ requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize } });
  const [q, k, v] = [1, 2, 3].map((seed) => tensor(H * N * D, seed));
  const t0 = performance.now();
  const { out } = await attention(device, q, k, v, { heads: H, kvHeads: H, n: N });
  const ms = performance.now() - t0;
  const want = reference(q, k, v);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (out[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  const rel = Math.sqrt(num / den);
  return { ok: rel < 1e-4, rel, ms, pattern: SPEC.name, heads: H, n: N, d: D };
}

const result = await main().catch((e) => ({ ok: false, error: String(e && e.message ? e.message : e) }));
document.getElementById("result").textContent = JSON.stringify(result, null, 2);
if (location.search.includes("report")) await fetch("/result", { method: "POST", body: JSON.stringify(result) });
