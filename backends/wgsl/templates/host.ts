// The WebGPU host code of a pattern: buffers, pipelines and launches of its attention shader
// and mask generators on a GPUDevice the caller passes. Standalone on purpose (no imports, the
// WebGPU types from @webgpu/types): `spattn compile --target wgsl` embeds this file verbatim in
// every generated host module, after which it appends the pattern's `SPEC`; spattn's own
// runtime (runtime/webgpu/run.ts) runs the same code with a spec made in process
// (backends/wgsl/spec.ts).
//
// Conventions shared with the shaders (backends/wgsl): parameters are a uniform block of 4-byte
// fields in `PatternSpec`'s order (i32, scale_log2 f32) padded to 16 bytes; data-dependent arrays
// go into one i32 buffer, one word per element, at offsets passed as `dyn_<field>` parameters;
// block lists are FlexAttention's (partial and full key tiles per query tile) in one i32 buffer.

/** Every failure of the host code: a message that says what is missing or wrong. */
export class SpattnWebGpuError extends Error {}

/** What the host code needs to know of a pattern and its shaders. */
export interface PatternSpec {
  name: string;
  /** Head dimension of Q and K, and width of V and O rows, the attention shaders were made for. */
  d: number;
  dv: number;
  /** The attention shader staging `bk` keys per tile (one of `keyTiles`), running the softmax
   *  on subgroup pairs or on one thread a row, staging K and V in f16 or f32, and its workgroup
   *  storage in bytes. */
  attention(bk: number, subgroups: boolean, f16: boolean): { wgsl: string; bytes: number } | undefined;
  /** The mask generators: entry points mask_dense, mask_classes and mask_lists. */
  mask: string;
  attentionParams: string[];
  maskParams: string[];
  /** The data-dependent arrays the predicate reads, in order (none for a positional pattern). */
  dynFields: string[];
  /** Whether heads have masks of their own (else one head's lists serve all). */
  headDependent: boolean;
  /** Query rows per attention workgroup, and threads per mask-generator workgroup. */
  queryTile: number;
  /** Keys per attention tile the shaders exist for, largest first. */
  keyTiles: number[];
  maskWorkgroup: number;
  /** Sizes whose integer arithmetic fits the shaders' i32: the predicate's up to N = maxN with
   *  fewer than maxHeads heads (worked out by the compiler), the indices checked here. */
  maxN: number;
  maxHeads: number;
  /** The index builders: entry points sel<i>_pool, sel<i>_scores and sel<i>_choose per
   *  selection, in dependency order; then the routing and vertical-slash steps. */
  builders: {
    wgsl: string;
    params: string[];
    selections: { id: number; qblock: number; kblock: number; seeded: boolean }[];
    /** Routing steps (spherical k-means), run by `routeWgsl` after the selections. */
    routes: { id: number; clusters: number; iterations: number }[];
    routeWgsl: string;
    routeParams: string[];
    /** Vertical-slash steps, run by `vslashWgsl` last. */
    vslash: { id: number; last: number; first: number; recent: number; verticals: number; slashes: number }[];
    vslashWgsl: string;
    vslashParams: string[];
  };
}

/** Refuses sizes whose arithmetic would leave the 32-bit integers WGSL has. */
export function checkSize(spec: PatternSpec, heads: number, n: number, width: number): void {
  if (n > spec.maxN || heads > spec.maxHeads || heads * n * Math.max(width, 32) >= 2 ** 31) {
    throw new SpattnWebGpuError(`N = ${n} with ${heads} heads of width ${width} leaves the 32-bit integers of WGSL (pattern ${spec.name}: N up to ${spec.maxN}, up to ${spec.maxHeads} heads, H x N x width below 2^31)`);
  }
}

/** FlexAttention-layout block lists, `stride` indices per (head, query tile) row: the layout of
 *  backends/inputs.ts's KernelTiles, spelled again because this file has no imports. */
export interface Tiles {
  kvNum: Int32Array;
  kvIdx: Int32Array;
  fullNum: Int32Array;
  fullIdx: Int32Array;
  stride: number;
  /** 1 when every head shares the lists. */
  tileHeads: number;
  numQTiles: number;
}

/** The data-dependent arrays by field name, each for every query head, concatenated. */
export type DynArrays = Record<string, Uint8Array | Int32Array>;

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();
const layouts = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();

/** A layout of buffer bindings 0, 1, ... of the given types, cached per device (explicit: an
 *  "auto" layout drops the bindings an entry point never reads). */
export function bufferLayout(device: GPUDevice, kinds: GPUBufferBindingType[]): GPUBindGroupLayout {
  let cache = layouts.get(device);
  if (!cache) layouts.set(device, (cache = new Map()));
  const key = kinds.join(",");
  let l = cache.get(key);
  if (!l) {
    l = device.createBindGroupLayout({ entries: kinds.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })) });
    cache.set(key, l);
  }
  return l;
}

/** The pipeline of `entry` in `code`, compiled once per device (Dawn does not cache identical
 *  pipelines); a compile error names its line and shows it. */
export function pipelineFor(device: GPUDevice, code: string, layout: GPUBindGroupLayout, entry = "main"): Promise<GPUComputePipeline> {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  const key = `${entry}\n${code}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      const module = device.createShaderModule({ code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === "error");
      if (errors.length) {
        const src = code.split("\n");
        const text = errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}\n  ${src[m.lineNum - 1] ?? ""}`).join("\n");
        throw new SpattnWebGpuError(`the generated WGSL does not compile:\n${text}`);
      }
      return device.createComputePipelineAsync({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: entry } });
    })();
    cache.set(key, p);
    p.catch(() => cache!.delete(key));
  }
  return p;
}

/** A buffer holding `data` (at least 16 bytes, a multiple of 16: bindings need both). */
function upload(device: GPUDevice, data: ArrayBufferView, usage: number): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buf = device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST });
  if (data.byteLength) device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}

/** The uniform block of `fields` (i32, f32 for those in `floats`), 16-byte padded. */
function paramBlock(fields: string[], values: Record<string, number>, floats: string[] = []): Uint8Array {
  const bytes = new ArrayBuffer(Math.ceil(fields.length / 4) * 16);
  const ints = new Int32Array(bytes);
  const fl = new Float32Array(bytes);
  fields.forEach((f, i) => {
    const v = values[f];
    if (v === undefined) throw new SpattnWebGpuError(`internal: parameter ${f} has no value`);
    if (floats.includes(f)) fl[i] = v;
    else ints[i] = v;
  });
  return new Uint8Array(bytes);
}

/** Each data-dependent array as i32 words, one after the other, with each one's offset. */
function packDyn(spec: PatternSpec, dyn: DynArrays | undefined): { data: Int32Array; offsets: Record<string, number> } {
  const missing = spec.dynFields.filter((f) => !dyn || !dyn[f]);
  if (missing.length) throw new SpattnWebGpuError(`pattern ${spec.name} reads data-dependent arrays (${missing.join(", ")}): pass them, from runIndexBuilders or spattn's CPU index builders`);
  const arrays = spec.dynFields.map((f) => dyn![f]);
  const data = new Int32Array(Math.max(1, arrays.reduce((s, a) => s + a.length, 0)));
  const offsets: Record<string, number> = {};
  let at = 0;
  spec.dynFields.forEach((f, i) => {
    offsets[`dyn_${f}`] = at;
    data.set(arrays[i], at);
    at += arrays[i].length;
  });
  return { data, offsets };
}

/** Runs the passes in order in one submission, then copies `reads` back; a validation error
 *  of any step becomes an exception. With `timed` (the device must have `timestamp-query`),
 *  also the GPU time from the first pass's start to the last one's end, in nanoseconds: with
 *  `repeat` runs of the passes, one after another in the same submission, each run's
 *  (`runsNs`) and their mean (`gpuNs`). */
async function launch(
  device: GPUDevice,
  what: string,
  layout: GPUBindGroupLayout,
  buffers: GPUBuffer[],
  passes: { pipeline: GPUComputePipeline; workgroups: [number, number, number] }[],
  reads: GPUBuffer[],
  timed = false,
  repeat = 1,
): Promise<{ data: ArrayBuffer[]; gpuNs?: number; runsNs?: number[] }> {
  const staging = reads.map((b) => device.createBuffer({ size: b.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  const runs = timed ? repeat : 1;
  const querySet = timed ? device.createQuerySet({ type: "timestamp", count: 2 * runs }) : undefined;
  const stamps = timed ? device.createBuffer({ size: 16 * runs, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : undefined;
  const stampsRead = timed ? device.createBuffer({ size: 16 * runs, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : undefined;
  device.pushErrorScope("validation");
  let failure: unknown;
  let result: { data: ArrayBuffer[]; gpuNs?: number; runsNs?: number[] } = { data: [] };
  try {
    const group = device.createBindGroup({ layout, entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const enc = device.createCommandEncoder();
    for (let r = 0; r < runs; r++) {
      passes.forEach((p, i) => {
        const writes: GPUComputePassTimestampWrites | undefined = querySet
          ? { querySet, ...(i === 0 ? { beginningOfPassWriteIndex: 2 * r } : {}), ...(i === passes.length - 1 ? { endOfPassWriteIndex: 2 * r + 1 } : {}) }
          : undefined;
        const pass = enc.beginComputePass(writes ? { timestampWrites: writes } : {});
        pass.setPipeline(p.pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(...p.workgroups);
        pass.end();
      });
    }
    reads.forEach((b, i) => enc.copyBufferToBuffer(b, 0, staging[i], 0, b.size));
    if (querySet && stamps && stampsRead) {
      enc.resolveQuerySet(querySet, 0, 2 * runs, stamps, 0);
      enc.copyBufferToBuffer(stamps, 0, stampsRead, 0, 16 * runs);
    }
    device.queue.submit([enc.finish()]);
    await Promise.all([...staging, ...(stampsRead ? [stampsRead] : [])].map((b) => b.mapAsync(GPUMapMode.READ)));
    result = { data: staging.map((b) => b.getMappedRange().slice(0)) };
    if (stampsRead) {
      const t = new BigUint64Array(stampsRead.getMappedRange());
      // The mean over the runs: some drivers' timestamps tick in tens of microseconds (NVIDIA's
      // Vulkan driver on an H200: 65.5 us), too coarse for one short pass. Not the span of all
      // runs: between two runs that driver left gaps of up to a millisecond.
      const runsNs = Array.from({ length: runs }, (_, r) => Number(t[2 * r + 1] - t[2 * r]));
      result.gpuNs = runsNs.reduce((a, b) => a + b, 0) / runs;
      result.runsNs = runsNs;
    }
  } catch (e) {
    failure = e;
  } finally {
    for (const b of [...staging, ...(stamps ? [stamps] : []), ...(stampsRead ? [stampsRead] : [])]) b.destroy();
    querySet?.destroy();
  }
  const err = await device.popErrorScope();
  if (err) throw new SpattnWebGpuError(`WebGPU refused ${what}: ${err.message}`);
  if (failure) throw failure;
  return result;
}

export interface MaskOptions {
  n: number;
  /** Heads to generate: 1 where the pattern is not head-dependent, else the query heads. */
  heads: number;
  blockQ: number;
  blockK: number;
  dyn?: DynArrays;
  /** Also the dense mask ([heads][n][n] bytes: meant for small n). */
  dense?: boolean;
}

export interface MaskResult {
  dense?: Uint8Array;
  /** [heads][nqt][nkt]: 0 empty, 1 full, 2 partial (pairs past n do not count). */
  classes: Uint8Array;
  tiles: Tiles;
}

/** The mask generators on the device: block classes, FlexAttention lists and, if asked, the
 *  dense mask, from the predicate on every pair. */
export async function runMaskGenerators(device: GPUDevice, spec: PatternSpec, o: MaskOptions): Promise<MaskResult> {
  const { n, heads, blockQ: bq, blockK: bk } = o;
  for (const [name, v] of [["N", n], ["heads", heads], ["block sizes", Math.min(bq, bk)]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new SpattnWebGpuError(`the mask generators need ${name} above 0, got ${v}`);
  }
  checkSize(spec, heads, n, Math.ceil(n / 32));
  const nqt = Math.ceil(n / bq);
  const nkt = Math.ceil(n / bk);
  const words = Math.ceil(n / 32);
  const rows = heads * nqt;
  const W = spec.maskWorkgroup;
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  if ((o.dense && n > limit) || nqt > limit || Math.ceil(rows / W) > limit) throw new SpattnWebGpuError(`N = ${n} needs more workgroups along x than the device allows (${limit})`);
  const layout = bufferLayout(device, ["uniform", "read-only-storage", "storage", "storage", "storage"]);
  const [pDense, pClasses, pLists] = await Promise.all(["mask_dense", "mask_classes", "mask_lists"].map((e) => pipelineFor(device, spec.mask, layout, e)));
  const dyn = packDyn(spec, o.dyn);
  const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
  const bufs = [
    upload(device, paramBlock(spec.maskParams, { n, bq, bk, nqt, nkt, words, rows, ...dyn.offsets }), GPUBufferUsage.UNIFORM),
    upload(device, dyn.data, GPUBufferUsage.STORAGE),
    device.createBuffer({ size: o.dense ? heads * n * words * 4 : 16, usage: S }),
    device.createBuffer({ size: Math.max(16, rows * nkt * 4), usage: S }),
    device.createBuffer({ size: (2 * rows + 2 * rows * nkt) * 4, usage: S }),
  ];
  try {
    const passes: { pipeline: GPUComputePipeline; workgroups: [number, number, number] }[] = [
      ...(o.dense ? [{ pipeline: pDense, workgroups: [n, heads, 1] as [number, number, number] }] : []),
      { pipeline: pClasses, workgroups: [nqt, heads, 1] },
      { pipeline: pLists, workgroups: [Math.ceil(rows / W), 1, 1] },
    ];
    const got = (await launch(device, "the mask generators", layout, bufs, passes, o.dense ? [bufs[2], bufs[3], bufs[4]] : [bufs[3], bufs[4]])).data;
    const [denseBits, classBytes, listBytes] = o.dense ? got : [undefined, ...got];
    const lists = new Int32Array(listBytes!);
    const tiles: Tiles = {
      kvNum: lists.slice(0, rows),
      kvIdx: lists.slice(rows, rows + rows * nkt),
      fullNum: lists.slice(rows + rows * nkt, 2 * rows + rows * nkt),
      fullIdx: lists.slice(2 * rows + rows * nkt, 2 * rows + 2 * rows * nkt),
      stride: nkt,
      tileHeads: heads,
      numQTiles: nqt,
    };
    const result: MaskResult = { classes: Uint8Array.from(new Uint32Array(classBytes!, 0, rows * nkt)), tiles };
    if (denseBits) {
      const bits = new Uint32Array(denseBits, 0, heads * n * words);
      const dense = new Uint8Array(heads * n * n);
      for (let r = 0; r < heads * n; r++) for (let k = 0; k < n; k++) dense[r * n + k] = (bits[r * words + (k >> 5)] >>> (k & 31)) & 1;
      result.dense = dense;
    }
    return result;
  } finally {
    for (const b of bufs) b.destroy();
  }
}

/** Whether the attention shader can run a row's softmax on two threads that combine their
 *  halves with a subgroup shuffle: the device has the feature, and subgroups hold both (at
 *  least 2 invocations; SwiftShader's are exactly 4, GPUs' 8 to 128). */
export function canUseSubgroups(device: GPUDevice): boolean {
  return device.features.has("subgroups") && (device.adapterInfo?.subgroupMinSize ?? 0) >= 2;
}

/** The data-dependent arrays, made on the device by the index builders: q and k are
 *  [heads][n][d] (one K head per query head, as the CPU's steps read them). */
export async function runIndexBuilders(device: GPUDevice, spec: PatternSpec, q: Float32Array, k: Float32Array, shape: { heads: number; n: number; d: number }): Promise<DynArrays> {
  const { heads, n, d } = shape;
  const b = spec.builders;
  if (q.length !== heads * n * d || k.length !== heads * n * d) throw new SpattnWebGpuError(`the index builders read Q and K of ${heads} heads of ${n} x ${d}`);
  checkSize(spec, heads, n, d);
  const dyn: DynArrays = Object.fromEntries(spec.dynFields.map((f) => [f, new Uint8Array(0)]));
  if (n === 0) return dyn;
  const r: GPUBufferBindingType = "read-only-storage";
  const layout = bufferLayout(device, ["uniform", r, r, "storage", "storage", "storage", r]);
  const qb = upload(device, q, GPUBufferUsage.STORAGE);
  const kb = upload(device, k, GPUBufferUsage.STORAGE);
  // Workgroups of the builders' one-thread-per-item passes, along x.
  const groups = (threads: number): [number, number, number] => {
    const g = Math.ceil(threads / spec.maskWorkgroup);
    if (g > device.limits.maxComputeWorkgroupsPerDimension) throw new SpattnWebGpuError(`the index builders need ${g} workgroups along x; the device allows ${device.limits.maxComputeWorkgroupsPerDimension}`);
    return [g, 1, 1];
  };
  // Top-p's softmax scale, 1 / sqrt(max(d, 1)) in the CPU's double arithmetic, as two words.
  const scaleWords = new Int32Array(new Float64Array([1 / Math.sqrt(Math.max(d, 1))]).buffer);
  try {
    for (const sel of b.selections) {
      const nqb = Math.ceil(n / sel.qblock);
      const nkb = Math.ceil(n / sel.kblock);
      const names = sel.seeded ? ["choose"] : ["pool", "scores", "choose"];
      const pipelines = await Promise.all(names.map((e) => pipelineFor(device, b.wgsl, layout, `sel${sel.id}_${e}`)));
      const packed = packDyn(spec, dyn);
      const bufs = [
        upload(device, paramBlock(b.params, { n, d, heads, scale_lo: scaleWords[0], scale_hi: scaleWords[1], ...packed.offsets }), GPUBufferUsage.UNIFORM),
        qb,
        kb,
        device.createBuffer({ size: Math.max(16, heads * (nqb + nkb) * d * 8), usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: Math.max(16, heads * nqb * nkb * 8), usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: Math.max(16, heads * nqb * nkb * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
        upload(device, packed.data, GPUBufferUsage.STORAGE),
      ];
      try {
        const threads = sel.seeded ? [heads * nqb] : [heads * (nqb + nkb) * d, heads * nqb * nkb, heads * nqb];
        const got = await launch(device, `the index builder of selection ${sel.id}`, layout, bufs, pipelines.map((pipeline, i) => ({ pipeline, workgroups: groups(threads[i]) })), [bufs[5]]);
        const words = new Uint32Array(got.data[0], 0, heads * nqb * nkb);
        if (words.some((w) => w > 1)) throw new SpattnWebGpuError(`selection ${sel.id}: a softmax weight fell below the normal doubles the index builders compute in (score gaps of hundreds): pass the data-dependent arrays (spattn's CPU index builders compute them)`);
        dyn[`sel${sel.id}_kept`] = Uint8Array.from(words);
      } finally {
        for (const x of [bufs[0], bufs[3], bufs[4], bufs[5], bufs[6]]) x.destroy();
      }
    }
    for (const route of b.routes) {
      const rl = bufferLayout(device, ["uniform", r, r, "storage", "storage", "storage", "storage", "storage"]);
      const [pNorm, pInit, pAssign, pSum, pCenter] = await Promise.all(
        ["route_normalize", "route_init", "route_assign", "route_sum", "route_center"].map((e) => pipelineFor(device, b.routeWgsl, rl, e)),
      );
      const m = route.clusters;
      const bufs = [
        upload(device, paramBlock(b.routeParams, { n, d, heads, clusters: m }), GPUBufferUsage.UNIFORM),
        qb,
        kb,
        device.createBuffer({ size: heads * 2 * n * d * 8, usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: Math.max(16, heads * m * d * 8), usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: Math.max(16, heads * m * d * 8), usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: Math.max(16, heads * m * 4), usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: heads * 2 * n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
      ];
      const rows = groups(heads * 2 * n);
      const cells = groups(heads * m * d);
      const passes = [{ pipeline: pNorm, workgroups: rows }, { pipeline: pInit, workgroups: cells }];
      for (let it = 0; it < route.iterations; it++) {
        passes.push({ pipeline: pAssign, workgroups: rows }, { pipeline: pSum, workgroups: cells }, { pipeline: pCenter, workgroups: groups(heads * m) });
      }
      passes.push({ pipeline: pAssign, workgroups: rows });
      try {
        const got = await launch(device, `the routing builder of route ${route.id}`, rl, bufs, passes, [bufs[7]]);
        const assign = new Int32Array(got.data[0], 0, heads * 2 * n);
        const qs = new Int32Array(heads * n);
        const ks = new Int32Array(heads * n);
        for (let h = 0; h < heads; h++) {
          qs.set(assign.subarray(h * 2 * n, h * 2 * n + n), h * n);
          ks.set(assign.subarray(h * 2 * n + n, (h + 1) * 2 * n), h * n);
        }
        dyn[`route${route.id}_q`] = qs;
        dyn[`route${route.id}_k`] = ks;
      } finally {
        for (const x of [bufs[0], ...bufs.slice(3)]) x.destroy();
      }
    }
    for (const vs of b.vslash) {
      const vl = bufferLayout(device, ["uniform", r, r, "storage", "storage", "storage", "storage", "storage"]);
      const pipelines = await Promise.all(["vs_scores", "vs_softmax", "vs_columns", "vs_diagonals", "vs_keep"].map((e) => pipelineFor(device, b.vslashWgsl, vl, e)));
      const rowsLast = Math.min(vs.last, n);
      const unscaled = new Int32Array(new Float64Array([1 / Math.sqrt(d)]).buffer); // the CPU's scale here: 1 / sqrt(d)
      const values = { n, d, heads, last: vs.last, first: vs.first, recent: vs.recent, verticals: vs.verticals, slashes: vs.slashes, scale_lo: unscaled[0], scale_hi: unscaled[1] };
      const bufs = [
        upload(device, paramBlock(b.vslashParams, values), GPUBufferUsage.UNIFORM),
        qb,
        kb,
        device.createBuffer({ size: Math.max(16, heads * rowsLast * n * 8), usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: heads * n * 8, usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: heads * n * 8, usage: GPUBufferUsage.STORAGE }),
        device.createBuffer({ size: heads * n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
        device.createBuffer({ size: heads * n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }),
      ];
      const threads = [heads * rowsLast * n, heads * rowsLast, heads * n, heads * n, heads * n];
      try {
        const got = await launch(device, `the vertical-slash builder of step ${vs.id}`, vl, bufs, pipelines.map((pipeline, i) => ({ pipeline, workgroups: groups(threads[i]) })), [bufs[6], bufs[7]]);
        const cols = new Uint32Array(got.data[0], 0, heads * n);
        if (cols.some((w) => w > 1)) throw new SpattnWebGpuError(`vertical-slash step ${vs.id}: a softmax weight fell below the normal doubles the index builders compute in (score gaps of hundreds): pass the data-dependent arrays (spattn's CPU index builders compute them)`);
        dyn[`vs${vs.id}_cols`] = Uint8Array.from(cols);
        dyn[`vs${vs.id}_diags`] = Uint8Array.from(new Uint32Array(got.data[1], 0, heads * n));
      } finally {
        for (const x of [bufs[0], ...bufs.slice(3)]) x.destroy();
      }
    }
  } finally {
    qb.destroy();
    kb.destroy();
  }
  return dyn;
}

/** Keys per attention tile: the largest of the spec's whose workgroup storage the device allows. */
export function keysPerTile(device: GPUDevice, spec: PatternSpec, subgroups = canUseSubgroups(device), f16 = false): number {
  for (const bk of spec.keyTiles) {
    const s = spec.attention(bk, subgroups, f16);
    if (s && s.bytes <= device.limits.maxComputeWorkgroupStorageSize) return bk;
  }
  throw new SpattnWebGpuError(`no attention shader of pattern ${spec.name} fits the device's ${device.limits.maxComputeWorkgroupStorageSize} bytes of workgroup storage (head dimensions ${spec.d} and ${spec.dv})`);
}

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  n: number;
}

/** The most passes one timed call runs: a query set holds at most 4096 timestamps (WebGPU's
 *  limit), two a pass. */
export const MAX_REPEAT = 2048;

export interface AttentionOptions {
  /** The data-dependent arrays, where the pattern has any. */
  dyn?: DynArrays;
  /** Block lists of the attention tiles (`queryTile` x `keysPerTile`); by default the mask
   *  generators make them on the device. */
  tiles?: Tiles;
  /** Keys per tile (default: keysPerTile). Lists passed in must use the same. */
  bk?: number;
  /** The subgroup variant of the shader (default: where canUseSubgroups). */
  subgroups?: boolean;
  /** Also time the attention pass on the GPU (needs the device's `timestamp-query` feature). */
  timed?: boolean;
  /** With `timed`: run the attention pass this many times in the one submission and report
   *  the mean, and each pass's time (default 1; at most MAX_REPEAT). For benchmarks: one short
   *  pass can be shorter than the timestamps' tick, and a pass after host work may run at idle
   *  clocks. */
  repeat?: number;
  /** Stage K and V in f16 (needs `shader-f16`): half the workgroup storage, K and V rounded to
   *  f16 (about 1e-3 relative error); products, softmax and sums stay f32. Off by default. */
  f16?: boolean;
  /** The most key tiles one workgroup runs: longer lists are split and their parts combined
   *  (default: see `workItems`). */
  splitTiles?: number;
}

/** Words of the attention shader's work items, combine items and split rows
 *  (WGSL_ITEM_WORDS, WGSL_COMBINE_WORDS, WGSL_SPLIT_WORDS in backends/wgsl/attention.ts). */
const ITEM_WORDS = 5;
const COMBINE_WORDS = 4;
const SPLIT_WORDS = 2;

/** How the attention pass splits long lists. The workgroup of (query tile, head) runs its
 *  list's first part; work items (query tile, head, first and end entry, slot) run the other
 *  parts; combine items (query tile, head, first slot, parts) merge them. */
export interface WorkItems {
  /** Per head and query tile: the end of the first part and its slot (-1: not split); empty
   *  where no list is split. */
  split: Int32Array;
  items: Int32Array;
  combine: Int32Array;
  /** Slots of partial results (parts) the split tiles need. */
  slots: number;
  /** Most list entries a workgroup takes: longer lists are split. */
  chunk: number;
}

/**
 * The work of the attention pass. A workgroup runs its tiles one after another, so a list much
 * longer than the others (Longformer's and BigBird's global rows) would set the pass's time
 * alone: lists longer than `chunk` entries are split into near-equal parts, run side by side,
 * then combined. By default `chunk` is four times the mean list length, at least 32 (lists
 * that long amortise a workgroup's start), doubled until the parts' partial results fit
 * `maxBytes`.
 */
export function workItems(tiles: Tiles, heads: number, bytesPerSlot: number, maxBytes: number, chunk?: number): WorkItems {
  const lens: number[] = [];
  for (let h = 0; h < heads; h++)
    for (let qt = 0; qt < tiles.numQTiles; qt++) {
      const list = (tiles.tileHeads === 1 ? 0 : h) * tiles.numQTiles + qt;
      lens.push(tiles.kvNum[list] + tiles.fullNum[list]);
    }
  const mean = lens.reduce((a, b) => a + b, 0) / Math.max(1, lens.length);
  let c = chunk ?? Math.max(32, Math.ceil(4 * mean));
  if (!(Number.isInteger(c) && c >= 1)) throw new SpattnWebGpuError(`the tiles per work item must be a positive integer, got ${c}`);
  const partsOf = (len: number) => (len > c ? Math.ceil(len / c) : 0);
  const slotsAt = () => lens.reduce((a, len) => a + partsOf(len), 0);
  while (slotsAt() * bytesPerSlot > maxBytes) {
    if (chunk !== undefined) throw new SpattnWebGpuError(`${chunk} tiles per work item need ${slotsAt() * bytesPerSlot} bytes of partial results; the device binds at most ${maxBytes}`);
    c *= 2;
  }
  const slots = slotsAt();
  const split = new Int32Array(slots ? SPLIT_WORDS * lens.length : 0);
  const items: number[] = [];
  const combine: number[] = [];
  let slot = 0;
  lens.forEach((len, i) => {
    const head = Math.floor(i / tiles.numQTiles);
    const qt = i % tiles.numQTiles;
    const parts = partsOf(len);
    const end = (j: number) => Math.floor((j * len) / Math.max(1, parts));
    if (slots) split.set([parts ? end(1) : len, parts ? slot : -1], SPLIT_WORDS * i);
    if (!parts) return;
    for (let j = 1; j < parts; j++) items.push(qt, head, end(j), end(j + 1), slot + j);
    combine.push(qt, head, slot, parts);
    slot += parts;
  });
  return { split, items: Int32Array.from(items), combine: Int32Array.from(combine), slots, chunk: c };
}

/** Attention under the pattern, float32: q [heads][n][d], k [kvHeads][n][d], v [kvHeads][n][dv]
 *  (row-major, batch 1). Returns O [heads][n][dv] and the log-sum-exp [heads][n] (-Infinity and
 *  O = 0 for a row with no allowed key). */
export async function runAttention(
  device: GPUDevice,
  spec: PatternSpec,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  shape: AttentionShape,
  opts: AttentionOptions = {},
): Promise<{ out: Float32Array; lse: Float32Array; gpuMs?: number; passMs?: number[] }> {
  const { heads, kvHeads, n } = shape;
  const { d, dv } = spec;
  if (!(heads >= 1 && kvHeads >= 1 && heads % kvHeads === 0)) throw new SpattnWebGpuError(`query heads (${heads}) must be a positive multiple of the K/V heads (${kvHeads})`);
  checkSize(spec, heads, n, Math.max(d, dv));
  for (const [name, arr, want] of [["q", q, heads * n * d], ["k", k, kvHeads * n * d], ["v", v, kvHeads * n * dv]] as const) {
    if (arr.length !== want) throw new SpattnWebGpuError(`${name} has ${arr.length} elements; ${name === "q" ? heads : kvHeads} heads of ${n} x ${name === "v" ? dv : d} need ${want}`);
  }
  const out = new Float32Array(heads * n * dv);
  const lse = new Float32Array(heads * n);
  if (n === 0) return { out, lse };
  const subgroups = opts.subgroups ?? canUseSubgroups(device);
  if (subgroups && !canUseSubgroups(device)) throw new SpattnWebGpuError("the subgroup variant needs the device's `subgroups` feature with subgroups of at least 2 invocations");
  const f16 = opts.f16 ?? false;
  if (f16 && !device.features.has("shader-f16")) throw new SpattnWebGpuError("K and V in f16 need the device's `shader-f16` feature");
  const bk = opts.bk ?? keysPerTile(device, spec, subgroups, f16);
  const shader = spec.attention(bk, subgroups, f16);
  if (!shader) throw new SpattnWebGpuError(`pattern ${spec.name} has no attention shader with ${bk} keys per tile`);
  // Data-dependent arrays not passed in: made on the device by the index builders.
  let given = opts.dyn;
  if (!given && spec.dynFields.length) {
    if (kvHeads !== heads) throw new SpattnWebGpuError(`the index builders read one K head per query head (${heads}), got ${kvHeads}: pass the data-dependent arrays`);
    given = await runIndexBuilders(device, spec, q, k, { heads, n, d });
  }
  const tiles = opts.tiles ?? (await runMaskGenerators(device, spec, { n, heads: spec.headDependent ? heads : 1, blockQ: spec.queryTile, blockK: bk, dyn: given })).tiles;
  if (tiles.numQTiles !== Math.ceil(n / spec.queryTile)) throw new SpattnWebGpuError(`the lists have ${tiles.numQTiles} query tiles; N = ${n} in tiles of ${spec.queryTile} needs ${Math.ceil(n / spec.queryTile)}`);
  const slotWords = spec.queryTile * (dv + 1);
  const work = workItems(tiles, heads, 4 * slotWords, device.limits.maxStorageBufferBindingSize, opts.splitTiles);
  const numItems = work.items.length / ITEM_WORDS;
  const numCombine = work.combine.length / COMBINE_WORDS;
  // Workgroups: a row of query tiles per head, after the rows of the extra parts' work items.
  const extraRows = Math.ceil(numItems / tiles.numQTiles);
  const maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
  if (tiles.numQTiles > maxGroups || extraRows + heads > maxGroups) throw new SpattnWebGpuError(`N = ${n} with ${heads} heads needs ${tiles.numQTiles} x ${extraRows + heads} workgroups; the device allows ${maxGroups} along each`);
  const parts = [["kv_num_off", tiles.kvNum], ["kv_idx_off", tiles.kvIdx], ["full_num_off", tiles.fullNum], ["full_idx_off", tiles.fullIdx], ["split_off", work.split], ["items_off", work.items], ["combine_off", work.combine]] as const;
  const lists = new Int32Array(parts.reduce((s, [, a]) => s + a.length, 0));
  const offsets: Record<string, number> = {};
  let at = 0;
  for (const [name, arr] of parts) {
    offsets[name] = at;
    lists.set(arr, at);
    at += arr.length;
  }
  const dyn = packDyn(spec, given);
  const values = { n, heads, kv_heads: kvHeads, num_q_tiles: tiles.numQTiles, stride: tiles.stride, tile_heads: tiles.tileHeads, num_items: numItems, extra_rows: extraRows, num_combine: numCombine, scale_log2: Math.LOG2E / Math.sqrt(d), ...offsets, ...dyn.offsets };
  const r: GPUBufferBindingType = "read-only-storage";
  const layout = bufferLayout(device, ["uniform", r, r, r, "storage", "storage", r, r, "storage"]);
  const pipeline = await pipelineFor(device, shader.wgsl, layout);
  const combine = numCombine ? await pipelineFor(device, shader.wgsl, layout, "spattn_combine") : undefined;
  const S = GPUBufferUsage.STORAGE;
  const bufs = [
    upload(device, paramBlock(spec.attentionParams, values, ["scale_log2"]), GPUBufferUsage.UNIFORM),
    upload(device, q, S),
    upload(device, k, S),
    upload(device, v, S),
    device.createBuffer({ size: Math.max(16, out.byteLength), usage: S | GPUBufferUsage.COPY_SRC }),
    device.createBuffer({ size: Math.max(16, lse.byteLength), usage: S | GPUBufferUsage.COPY_SRC }),
    upload(device, lists, S),
    upload(device, dyn.data, S),
    device.createBuffer({ size: Math.max(16, 4 * slotWords * work.slots), usage: S }),
  ];
  try {
    if (opts.timed && !device.features.has("timestamp-query")) throw new SpattnWebGpuError("timing the attention pass needs the device's `timestamp-query` feature");
    if (opts.repeat !== undefined && !(Number.isInteger(opts.repeat) && opts.repeat >= 1 && opts.repeat <= MAX_REPEAT)) throw new SpattnWebGpuError(`repeat must be an integer from 1 to ${MAX_REPEAT}, got ${opts.repeat}`);
    const passes: { pipeline: GPUComputePipeline; workgroups: [number, number, number] }[] = [{ pipeline, workgroups: [tiles.numQTiles, extraRows + heads, 1] }];
    if (combine) passes.push({ pipeline: combine, workgroups: [tiles.numQTiles, Math.ceil(numCombine / tiles.numQTiles), 1] });
    const got = await launch(device, "the attention launch", layout, bufs, passes, [bufs[4], bufs[5]], opts.timed, opts.repeat);
    out.set(new Float32Array(got.data[0], 0, out.length));
    lse.set(new Float32Array(got.data[1], 0, lse.length));
    return got.gpuNs === undefined ? { out, lse } : { out, lse, gpuMs: got.gpuNs / 1e6, passMs: got.runsNs!.map((ns) => ns / 1e6) };
  } finally {
    for (const b of bufs) b.destroy();
  }
}
