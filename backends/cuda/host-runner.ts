// The host runner of a generated .cu file (<prefix>_run_host): what `spattn run --backend cuda`
// calls through the native addon. It takes host float32 tensors, converts them to bf16 or fp16
// on the way to the device, runs the attention and copies O and lse back. The block lists and
// data-dependent arrays come either from the caller (computed on the CPU) or, where the caller
// passes no lists, from the device itself: the GPU index builders, then the one-pass list
// builder (P_mask_tiles), the path a C host would take per call.
import type { PatternIR } from "../../compiler/ir.js";
import { dynFieldNames } from "../inputs.js";

/** The tile the lists are built for (the kernels' BLOCK_Q x BLOCK_K). */
export interface RunnerTile {
  blockQ: number;
  blockK: number;
}

/**
 * The data-dependent arrays built on the device, in an order that respects what each builder
 * reads: routes and vertical-slash steps read only Q and K, a selection may read earlier
 * selections (through dyn), so routes and vertical-slash steps go first and selections follow
 * in their order. One workspace, as large as the largest builder's, serves them all in turn
 * (they run one after another on the stream).
 */
function deviceDynBuilder(ir: PatternIR, prefix: string): string[] {
  const perHead = "(size_t)heads * n";
  /** A builder's block: its outputs allocated (dyn fields `<name>_<field>`), the build, the
   *  fields set. Selections also read the dyn built so far. */
  const step = (name: string, comment: string, outs: [field: string, type: string, count: string][], readsDyn = false) => {
    const args = `q, k, heads, n, d, ${readsDyn ? "dyn, " : ""}${outs.map(([f]) => `${name}_${f}`).join(", ")}, work, 0`;
    return {
      workspace: name,
      body: [
        `  {  // ${comment}`,
        ...outs.map(([f, type, count]) => `    ${type}* ${name}_${f} = b.upload<${type}>(nullptr, ${count}, e);`),
        "    if (*e != cudaSuccess) return (int)*e;",
        `    const int rc = half ? ${prefix}_${name}_build_fp16(${args}) : ${prefix}_${name}_build_bf16(${args});`,
        "    if (rc != 0) return rc;",
        ...outs.map(([f]) => `    dyn->${name}_${f} = ${name}_${f};`),
        "  }",
      ],
    };
  };
  const steps = [
    ...ir.routes.map((r) => step(`route${r.id}`, `route ${r.id}: clusters of queries and keys`, [["q", "int", perHead], ["k", "int", perHead]])),
    ...ir.verticalSlashes.map((v) =>
      step(`vs${v.id}`, `vertical-slash step ${v.id}: kept columns and diagonals`, [["cols", "unsigned char", perHead], ["diags", "unsigned char", perHead]]),
    ),
    ...ir.selections.map((s) =>
      step(
        `sel${s.id}`,
        `selection ${s.id}: kept blocks of ${s.qblock} queries x ${s.kblock} keys (reads the selections before it)`,
        [["kept", "unsigned char", `(size_t)heads * ((n + ${s.qblock - 1}) / ${s.qblock}) * ((n + ${s.kblock - 1}) / ${s.kblock})`]],
        true,
      ),
    ),
  ];
  return [
    "/* The pattern's data-dependent arrays, built on the device by its GPU index builders from q and k",
    " * ([1, heads, n, d] device arrays). */",
    "template <typename T>",
    `static int build_dyn_device(const T* q, const T* k, int heads, int n, int d, spattn_host::Buffers& b, ${prefix}_dyn* dyn, cudaError_t* e) {`,
    ...(steps.length === 0
      ? ["  (void)q; (void)k; (void)heads; (void)n; (void)d; (void)b; (void)dyn; (void)e;", "  return 0;  // positional pattern: nothing to build"]
      : [
          "  constexpr bool half = std::is_same<T, __half>::value;",
          "  size_t ws = 0;",
          ...steps.map((s) => `  ws = std::max(ws, ${prefix}_${s.workspace}_workspace(heads, n, d));`),
          "  void* work = b.upload<unsigned char>(nullptr, ws, e);",
          "  if (*e != cudaSuccess) return (int)*e;",
          ...steps.flatMap((s) => s.body),
          "  return 0;",
        ]),
    "}",
  ];
}

/** The host runner: device buffers, bf16/fp16 conversion, lists from the caller or the device,
 *  launch, copies back. */
export function hostRunner(ir: PatternIR, prefix: string, tile: RunnerTile): string[] {
  const dyn = dynFieldNames(ir);
  const dynamic = dyn.length > 0;
  return [
    "#include <algorithm>",
    "#include <cstdio>",
    "#include <type_traits>",
    "#include <vector>",
    "namespace spattn_host {",
    "struct Buffers {",
    "  std::vector<void*> ptrs;",
    "  ~Buffers() { for (void* p : ptrs) cudaFree(p); }",
    "  template <typename X> X* upload(const X* host, size_t count, cudaError_t* e) {",
    "    void* d = nullptr;",
    "    if (*e != cudaSuccess) return nullptr;",
    "    *e = cudaMalloc(&d, count * sizeof(X) + 16);",
    "    if (*e != cudaSuccess) return nullptr;",
    "    ptrs.push_back(d);",
    "    if (host && count) *e = cudaMemcpy(d, host, count * sizeof(X), cudaMemcpyHostToDevice);",
    "    return static_cast<X*>(d);",
    "  }",
    "};",
    "template <typename T> std::vector<T> convert(const float* x, size_t count) {",
    "  std::vector<T> out(count);",
    "  for (size_t i = 0; i < count; ++i) out[i] = T(x[i]);",
    "  return out;",
    "}",
    "static int fail(char* err, int len, int code, const char* what) {",
    '  if (err && len > 0) snprintf(err, (size_t)len, "%s", what);',
    "  return code;",
    "}",
    "}  // namespace spattn_host",
    "",
    ...deviceDynBuilder(ir, prefix),
    "",
    "template <typename T>",
    `static int run_host_typed(const spattn_run_args* a, char* err, int err_len) {`,
    "  using namespace spattn_host;",
    "  int devices = 0;",
    "  cudaError_t e = cudaGetDeviceCount(&devices);",
    "  if (e != cudaSuccess || devices == 0) {",
    "    char msg[256];",
    '    snprintf(msg, sizeof msg, "no CUDA device: %s", e != cudaSuccess ? cudaGetErrorString(e) : "none found");',
    "    return fail(err, err_len, e != cudaSuccess ? (int)e : -1, msg);",
    "  }",
    "  // No lists from the caller: the device builds them (and the data-dependent arrays), in sequence order.",
    "  const bool device_lists = a->kv_num == nullptr;",
    '  if (device_lists && a->token_map) return fail(err, err_len, -1, "lists built on the device are in sequence order: a token map needs the lists made for it");',
    ...(dynamic
      ? [
          '  if (device_lists && a->batch != 1) return fail(err, err_len, -1, "the data-dependent arrays are built on the device for batch 1 only");',
          "  // As on the CPU, a data-dependent step pairs query head h with key head h: no GQA there.",
          '  if (device_lists && a->kv_heads != a->heads) return fail(err, err_len, -1, "the data-dependent steps need K with as many heads as Q");',
        ]
      : []),
    "  const size_t qn = (size_t)a->batch * a->heads * a->seq_len * a->head_dim;",
    "  const size_t kn = (size_t)a->batch * a->kv_heads * a->seq_len * a->head_dim;",
    "  Buffers b;",
    "  std::vector<T> hq = convert<T>(a->q, qn), hk = convert<T>(a->k, kn), hv = convert<T>(a->v, kn);",
    "  T* q = b.upload(hq.data(), qn, &e);",
    "  T* k = b.upload(hk.data(), kn, &e);",
    "  T* v = b.upload(hv.data(), kn, &e);",
    "  T* o = b.upload<T>(nullptr, qn, &e);",
    "  float* lse = b.upload<float>(nullptr, (size_t)a->batch * a->heads * a->seq_len, &e);",
    "  const int* map = a->token_map ? b.upload(a->token_map, (size_t)a->map_len, &e) : nullptr;",
    `  ${prefix}_dyn dyn = {};`,
    "  spattn_tiles t;",
    "  t.partial_bits = nullptr;",
    "  if (device_lists) {",
    ...(dynamic
      ? [
          "    if (e != cudaSuccess) return fail(err, err_len, (int)e, cudaGetErrorString(e));",
          "    const int built = build_dyn_device<T>(q, k, a->heads, a->seq_len, a->head_dim, b, &dyn, &e);",
          "    if (built != 0) return fail(err, err_len, built, cudaGetErrorString((cudaError_t)built));",
        ]
      : []),
    `    const int nqb = (a->seq_len + ${tile.blockQ - 1}) / ${tile.blockQ}, nkb = (a->seq_len + ${tile.blockK - 1}) / ${tile.blockK};`,
    "    const size_t rows = (size_t)a->heads * nqb;",
    "    int* kv_num = b.upload<int>(nullptr, rows, &e);",
    "    int* kv_idx = b.upload<int>(nullptr, rows * nkb, &e);",
    "    int* full_num = b.upload<int>(nullptr, rows, &e);",
    "    int* full_idx = b.upload<int>(nullptr, rows * nkb, &e);",
    "    if (e != cudaSuccess) return fail(err, err_len, (int)e, cudaGetErrorString(e));",
    `    const int rc = ${prefix}_mask_tiles(a->heads, a->seq_len, ${tile.blockQ}, ${tile.blockK}, &dyn, kv_num, kv_idx, full_num, full_idx, 0);`,
    "    if (rc != 0) return fail(err, err_len, rc, cudaGetErrorString((cudaError_t)rc));",
    "    t.kv_num = kv_num; t.kv_idx = kv_idx; t.full_num = full_num; t.full_idx = full_idx;",
    "    t.stride = nkb; t.heads = a->heads;",
    "  } else {",
    "    const size_t rows = (size_t)a->tile_heads * a->num_q_tiles;",
    "    t.kv_num = b.upload(a->kv_num, rows, &e); t.kv_idx = b.upload(a->kv_idx, rows * a->stride, &e);",
    "    t.full_num = b.upload(a->full_num, rows, &e); t.full_idx = b.upload(a->full_idx, rows * a->stride, &e);",
    "    t.stride = a->stride; t.heads = a->tile_heads;",
    `    if (a->dyn_count != ${dyn.length}) return fail(err, err_len, -1, "wrong number of data-dependent arrays (expected ${dyn.length})");`,
    ...dyn.map((f, i) => `    dyn.${f} = static_cast<decltype(dyn.${f})>((const void*)b.upload(static_cast<const unsigned char*>(a->dyn[${i}]), (size_t)a->dyn_bytes[${i}], &e));`),
    "  }",
    "  if (e != cudaSuccess) return fail(err, err_len, (int)e, cudaGetErrorString(e));",
    "  int rc;",
    "  if (a->head_dim == 64) rc = launch<T, 64>(q, k, v, o, lse, a->batch, a->heads, a->kv_heads, a->seq_len, map, a->map_len, &t, &dyn, 0);",
    "  else if (a->head_dim == 128) rc = launch<T, 128>(q, k, v, o, lse, a->batch, a->heads, a->kv_heads, a->seq_len, map, a->map_len, &t, &dyn, 0);",
    '  else return fail(err, err_len, -1, "head dimension not supported (the kernels take 64 and 128)");',
    "  if (rc != 0) return fail(err, err_len, rc, cudaGetErrorString((cudaError_t)rc));",
    "  e = cudaDeviceSynchronize();",
    "  std::vector<T> ho(qn);",
    "  if (e == cudaSuccess) e = cudaMemcpy(ho.data(), o, qn * sizeof(T), cudaMemcpyDeviceToHost);",
    "  if (e == cudaSuccess && a->lse) e = cudaMemcpy(a->lse, lse, (size_t)a->batch * a->heads * a->seq_len * sizeof(float), cudaMemcpyDeviceToHost);",
    "  if (e != cudaSuccess) return fail(err, err_len, (int)e, cudaGetErrorString(e));",
    "  for (size_t i = 0; i < qn; ++i) a->o[i] = (float)ho[i];",
    "  return 0;",
    "}",
    "",
    `extern "C" int ${prefix}_run_host(const spattn_run_args* a, char* err, int err_len) {`,
    '  if (!a || !a->q || !a->k || !a->v || !a->o) return spattn_host::fail(err, err_len, -1, "missing input or output");',
    "  return a->dtype == 1 ? run_host_typed<__half>(a, err, err_len) : run_host_typed<__nv_bfloat16>(a, err, err_len);",
    "}",
    "",
  ];
}
