// Instantiates a PatternIR for one sequence length and set of heads (running the dynamic
// steps on Q and K when the pattern has any), then builds block masks or dense masks.
import { NO_LOC, SpattnError } from "../diagnostics.js";
import { dependsOnHead, isDynamic, type PatternIR } from "../ir.js";
import { largestMagnitude, maskEval, maskPoint, type EvalContext, type Point } from "./evaluate.js";
import * as L from "./lib.js";

/** Q or K of one batch: [1, heads, n, d] row-major. */
export interface Tensor4 {
  shape: number[];
  data: Float32Array | Float64Array;
}

export interface InstanceOptions {
  seqLen: number;
  heads?: number;
  q?: Tensor4;
  k?: Tensor4;
  /** File name for error messages. */
  fileName?: string;
}

function fail(opts: InstanceOptions, message: string): never {
  throw new SpattnError([{ severity: "error", fileName: opts.fileName ?? "<input>", loc: NO_LOC, message }]);
}

/** Heads to generate: explicit option, else the tensors', else the pattern's, else 1. */
export function headCount(ir: PatternIR, opts: InstanceOptions): number {
  return opts.heads ?? opts.q?.shape[1] ?? ir.heads ?? 1;
}

function checkTensor(opts: InstanceOptions, t: Tensor4 | undefined, name: string, heads: number): Tensor4 {
  if (!t) return fail(opts, `pattern is data-dependent: pass --q and --k (float32 .npy of shape [1, H, N, D])`);
  const [b, h, n, d] = t.shape;
  if (t.shape.length !== 4 || b !== 1) fail(opts, `${name} must have shape [1, H, N, D], got [${t.shape.join(", ")}]`);
  if (h !== heads) fail(opts, `${name} has ${h} heads but ${heads} were asked for`);
  if (n !== opts.seqLen) fail(opts, `${name} has N = ${n} but the sequence length is ${opts.seqLen}`);
  if (d < 1) fail(opts, `${name} has head dimension ${d}`);
  return t;
}

/** Validates sizes and computes everything a head's mask reads. */
export function headContexts(ir: PatternIR, opts: InstanceOptions): EvalContext[] {
  const n = opts.seqLen;
  if (!Number.isInteger(n) || n < 0) fail(opts, `sequence length must be a non-negative integer, got ${n}`);
  if (n > 2 ** 30) fail(opts, `sequence length ${n} is beyond 2^30`);
  const heads = headCount(ir, opts);
  if (!Number.isInteger(heads) || heads < 1) fail(opts, `head count must be a positive integer, got ${heads}`);
  if (ir.layout) {
    const total = ir.layout.reduce((a, x) => a * x.size, 1);
    if (total !== n) fail(opts, `layout (${ir.layout.map((a) => `${a.name}: ${a.size}`).join(", ")}) holds ${total} tokens but the sequence length is ${n}`);
  }
  checkNeighborhoods(ir, opts);
  // Integer arithmetic must stay exact in every backend (float64 here, 64-bit ints in kernels).
  const worst = largestMagnitude(ir.mask, { head: heads - 1, n, selections: [], routes: [], vslash: [] });
  if (worst >= 2 ** 52) fail(opts, `the pattern's arithmetic reaches ${worst} at N = ${n}, beyond the exact integer range (2^52)`);
  const dynamic = isDynamic(ir);
  const q = dynamic ? checkTensor(opts, opts.q, "Q", heads) : undefined;
  const k = dynamic ? checkTensor(opts, opts.k, "K", heads) : undefined;
  if (q && k && q.shape[3] !== k.shape[3]) fail(opts, `Q and K head dimensions differ (${q.shape[3]} and ${k.shape[3]})`);
  const out: EvalContext[] = [];
  for (let h = 0; h < heads; h++) {
    const ctx: EvalContext = { head: h, n, selections: [], routes: [], vslash: [] };
    const specs: L.SelectionSpec[] = ir.selections.map((sel) => ({
      qblock: sel.qblock,
      kblock: sel.kblock,
      keep: sel.rule,
      ...(sel.seed !== undefined ? { seed: sel.seed } : {}),
      among: clause(sel.among, ctx, sel.qblock, sel.kblock),
      always: clause(sel.always, ctx, sel.qblock, sel.kblock),
    }));
    L.instantiateHead(ctx, q?.data, k?.data, q?.shape[3] ?? 0, specs, ir.routes, ir.verticalSlashes);
    out.push(ctx);
  }
  return out;
}

/** A selection clause as a predicate on block indices; q and k are the blocks' first tokens. */
function clause(m: PatternIR["mask"], ctx: EvalContext, qblock: number, kblock: number): (qb: number, kb: number) => boolean {
  const f = maskPoint(m, ctx);
  const p: Point = { q: 0, k: 0, qb: 0, kb: 0 };
  return (qb, kb) => {
    p.qb = qb;
    p.kb = kb;
    p.q = qb * qblock;
    p.k = kb * kblock;
    return f(p);
  };
}

/** Neighbourhoods over the whole sequence learn their length only now. */
function checkNeighborhoods(ir: PatternIR, opts: InstanceOptions): void {
  const visit = (e: unknown): void => {
    if (!e || typeof e !== "object") return;
    const node = e as Record<string, unknown>;
    if (node.op === "natStart" && node.length === -1) {
      const K = node.kernel as number;
      const d = node.dilation as number;
      if (Math.floor(opts.seqLen / d) < K) fail(opts, `sequence length ${opts.seqLen} is too short for neighborhood kernel ${K} with dilation ${d}`);
    }
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) v.forEach(visit);
      else visit(v);
    }
  };
  visit(ir.mask);
}

export interface BlockMask {
  seqLen: number;
  heads: number;
  blockQ: number;
  blockK: number;
  numQBlocks: number;
  numKBlocks: number;
  perHead: L.HeadBlocks[];
}

export interface BlockMaskOptions extends InstanceOptions {
  blockQ: number;
  blockK?: number;
}

/** Exact block classification of every head (one computation shared when heads agree). */
export function buildBlockMask(ir: PatternIR, opts: BlockMaskOptions): BlockMask {
  const bq = opts.blockQ;
  const bk = opts.blockK ?? bq;
  if (!Number.isInteger(bq) || bq < 1 || !Number.isInteger(bk) || bk < 1) fail(opts, `block sizes must be positive integers, got ${bq} and ${bk}`);
  const ctxs = headContexts(ir, opts);
  const shared = !dependsOnHead(ir);
  const perHead: L.HeadBlocks[] = [];
  for (const ctx of ctxs) {
    if (shared && perHead.length > 0) perHead.push(perHead[0]);
    else perHead.push(L.classifyBlocks(maskEval(ir.mask, ctx), opts.seqLen, bq, bk));
  }
  return { seqLen: opts.seqLen, heads: ctxs.length, blockQ: bq, blockK: bk, numQBlocks: Math.ceil(opts.seqLen / bq), numKBlocks: Math.ceil(opts.seqLen / bk), perHead };
}

/** Dense [heads, n, n] mask, 1 where allowed. Meant for small n (it is n^2 bytes a head). */
export function buildDenseMask(ir: PatternIR, opts: InstanceOptions): { heads: number; seqLen: number; data: Uint8Array } {
  const ctxs = headContexts(ir, opts);
  const n = opts.seqLen;
  if (ctxs.length * n * n > 2 ** 31) fail(opts, `a dense mask of ${ctxs.length} x ${n} x ${n} is too large; use --format bsr`);
  const data = new Uint8Array(ctxs.length * n * n);
  const shared = !dependsOnHead(ir);
  ctxs.forEach((ctx, h) => {
    if (shared && h > 0) data.copyWithin(h * n * n, 0, n * n);
    else L.denseMask(maskEval(ir.mask, ctx), n, data, h * n * n);
  });
  return { heads: ctxs.length, seqLen: n, data };
}

/** Row callback for the reference attention: the dense row of query i of head h. */
export function maskRows(ir: PatternIR, opts: InstanceOptions): { heads: number; row: (h: number, i: number, out: Uint8Array) => void } {
  const ctxs = headContexts(ir, opts);
  const evals = ctxs.map((c) => maskEval(ir.mask, c));
  const n = opts.seqLen;
  return {
    heads: ctxs.length,
    row: (h, i, out) => {
      out.fill(0);
      const m = evals[h];
      for (let k = 0; k < n; k++) if (m.point(i, k)) out[k] = 1;
    },
  };
}
