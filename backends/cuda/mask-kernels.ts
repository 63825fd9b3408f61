// The C ABI of the GPU mask generators (templates/mask_kernels.cuh): a dense mask, tile classes
// and FlexAttention-layout block lists, computed on the device from the pattern's predicate.

export function maskKernelPrototypes(prefix: string): string[] {
  return [
    "/* GPU mask generators; device pointers throughout (dyn too). Dense: out is [heads][n][n] bytes,\n" +
      " * 1 where query q may attend key k. */\n" +
      `int ${prefix}_mask_dense(unsigned char* out, int heads, int seq_len, const ${prefix}_dyn* dyn, cudaStream_t stream)`,
    "/* Classes of block_q x block_k tiles in sequence order: classes is [heads][ceil(n/block_q)][ceil(n/block_k)]\n" +
      " * bytes, 0 empty, 1 partial, 2 full. Tiles are settled 32 or one at a time where the compiler's box domain\n" +
      " * proves their class, else by halves, rows or elements: exact either way. */\n" +
      `int ${prefix}_mask_blocks(unsigned char* classes, int heads, int seq_len, int block_q, int block_k, const ${prefix}_dyn* dyn, cudaStream_t stream)`,
    "/* FlexAttention BlockMask lists from those classes: kv_num, full_num [heads][nqb]; kv_idx, full_idx\n" +
      " * [heads][nqb][nkb], sorted and zero-padded (nqb = ceil(n/block_q), nkb = ceil(n/block_k)). */\n" +
      `int ${prefix}_mask_lists(const unsigned char* classes, int heads, int seq_len, int block_q, int block_k,\n` +
      "    int* kv_num, int* kv_idx, int* full_num, int* full_idx, cudaStream_t stream)",
    "/* The same lists straight from the pattern, in one pass, without the classes: kv_num, full_num [heads][nqb];\n" +
      " * kv_idx, full_idx [heads][nqb][nkb], sorted; indices past kv_num and full_num are not written (no padding).\n" +
      " * With block_q x block_k the kernels' tiles, these are a dynamic pattern's per-call lists (spattn_tiles, stride nkb). */\n" +
      `int ${prefix}_mask_tiles(int heads, int seq_len, int block_q, int block_k, const ${prefix}_dyn* dyn,\n` +
      "    int* kv_num, int* kv_idx, int* full_num, int* full_idx, cudaStream_t stream)",
    "/* Row masks of the partial tiles of the attention kernels' lists (tiles, token_map and map_len as\n" +
      " * the launch takes them; device pointers): bits gets heads * ceil(rows/BLOCK_Q) * stride * BLOCK_Q\n" +
      " * 64-bit words (rows = map_len with a token map, else seq_len), for tiles->partial_bits. */\n" +
      `int ${prefix}_mask_tile_bits(const spattn_tiles* tiles, int seq_len, const int* token_map, int map_len, const ${prefix}_dyn* dyn,\n` +
      "    unsigned long long* bits, cudaStream_t stream)",
  ];
}

export function maskKernelCode(prefix: string): string[] {
  return [
    "// ---------------------------------------------------------------- mask generators",
    `extern "C" int ${prefix}_mask_dense(unsigned char* out, int heads, int seq_len, const ${prefix}_dyn* dyn, cudaStream_t stream) {`,
    "  if (!out || !dyn || heads < 0 || heads > 65535 || seq_len < 0) return (int)cudaErrorInvalidValue;",
    "  if (heads == 0 || seq_len == 0) return 0;",
    "  // Queries on grid y, in slices of 65535 rows (the grid's limit).",
    "  for (int q0 = 0; q0 < seq_len; q0 += 65535) {",
    "    const int rows = seq_len - q0 < 65535 ? seq_len - q0 : 65535;",
    "    spattn::mask_dense<<<dim3((seq_len + 255) / 256, rows, heads), 256, 0, stream>>>(out, seq_len, q0, *dyn);",
    "  }",
    "  return (int)cudaGetLastError();",
    "}",
    "",
    `extern "C" int ${prefix}_mask_blocks(unsigned char* classes, int heads, int seq_len, int block_q, int block_k, const ${prefix}_dyn* dyn, cudaStream_t stream) {`,
    "  if (!classes || !dyn || heads < 0 || heads > 65535 || seq_len < 0 || block_q <= 0 || block_k <= 0) return (int)cudaErrorInvalidValue;",
    "  const long long nqb = ((long long)seq_len + block_q - 1) / block_q, nkb = ((long long)seq_len + block_k - 1) / block_k;",
    "  const long long rows = nqb * heads;",
    "  if (nqb > 0x7fffffffLL || nkb > 0x7fffffffLL) return (int)cudaErrorInvalidValue;",
    "  if (heads == 0 || seq_len == 0) return 0;",
    "  // A warp per (head, query tile), eight a CTA, grid-stride past a million CTAs.",
    "  const long long ctas = (rows + 7) / 8;",
    "  spattn::mask_classes<<<(unsigned)(ctas < (1 << 20) ? ctas : (1 << 20)), 256, 0, stream>>>(classes, seq_len, block_q, block_k, (int)nqb, (int)nkb, rows, *dyn);",
    "  return (int)cudaGetLastError();",
    "}",
    "",
    `extern "C" int ${prefix}_mask_lists(const unsigned char* classes, int heads, int seq_len, int block_q, int block_k,`,
    "    int* kv_num, int* kv_idx, int* full_num, int* full_idx, cudaStream_t stream) {",
    "  if (!classes || !kv_num || !kv_idx || !full_num || !full_idx || heads < 0 || seq_len < 0 || block_q <= 0 || block_k <= 0)",
    "    return (int)cudaErrorInvalidValue;",
    "  const long long nqb = ((long long)seq_len + block_q - 1) / block_q, nkb = ((long long)seq_len + block_k - 1) / block_k;",
    "  const long long rows = nqb * heads;",
    "  if (rows == 0) return 0;",
    "  if ((rows + 7) / 8 > 0x7fffffffLL) return (int)cudaErrorInvalidValue;",
    "  spattn::mask_lists<<<(unsigned)((rows + 7) / 8), 256, 0, stream>>>(classes, (int)rows, (int)nkb, kv_num, kv_idx, full_num, full_idx);",
    "  return (int)cudaGetLastError();",
    "}",
    "",
    `extern "C" int ${prefix}_mask_tiles(int heads, int seq_len, int block_q, int block_k, const ${prefix}_dyn* dyn,`,
    "    int* kv_num, int* kv_idx, int* full_num, int* full_idx, cudaStream_t stream) {",
    "  if (!dyn || !kv_num || !kv_idx || !full_num || !full_idx || heads < 0 || heads > 65535 || seq_len < 0 || block_q <= 0 || block_k <= 0)",
    "    return (int)cudaErrorInvalidValue;",
    "  const long long nqb = ((long long)seq_len + block_q - 1) / block_q, nkb = ((long long)seq_len + block_k - 1) / block_k;",
    "  const long long rows = nqb * heads;",
    "  if (nqb > 0x7fffffffLL || nkb > 0x7fffffffLL) return (int)cudaErrorInvalidValue;",
    "  if (rows == 0) return 0;",
    "  // A warp per (head, query tile), eight a CTA, grid-stride past a million CTAs.",
    "  const long long ctas = (rows + 7) / 8;",
    "  spattn::mask_tiles<<<(unsigned)(ctas < (1 << 20) ? ctas : (1 << 20)), 256, 0, stream>>>(seq_len, block_q, block_k, (int)nqb, (int)nkb, rows, *dyn,",
    "      kv_num, kv_idx, full_num, full_idx);",
    "  return (int)cudaGetLastError();",
    "}",
    "",
    `extern "C" int ${prefix}_mask_tile_bits(const spattn_tiles* tiles, int seq_len, const int* token_map, int map_len, const ${prefix}_dyn* dyn,`,
    "    unsigned long long* bits, cudaStream_t stream) {",
    "  if (!tiles || !dyn || !bits || seq_len < 0 || tiles->heads <= 0 || tiles->heads > 65535 || tiles->stride < 0 || tiles->stride > 65535) return (int)cudaErrorInvalidValue;",
    "  if (token_map && map_len < seq_len) return (int)cudaErrorInvalidValue;",
    "  spattn::Params p = {};",
    "  p.n = seq_len; p.token_map = token_map; p.rows = token_map ? map_len : seq_len;",
    `  p.num_q_tiles = (p.rows + ${prefix.toUpperCase()}_BLOCK_Q - 1) / ${prefix.toUpperCase()}_BLOCK_Q;`,
    "  p.tiles.kv_num = tiles->kv_num; p.tiles.kv_idx = tiles->kv_idx; p.tiles.stride = tiles->stride; p.tiles.heads = tiles->heads;",
    "  if (p.num_q_tiles == 0 || tiles->stride == 0) return 0;",
    `  const dim3 grid(p.num_q_tiles, tiles->heads, tiles->stride);`,
    `  if (token_map) spattn::mask_tile_bits<${prefix.toUpperCase()}_BLOCK_Q, ${prefix.toUpperCase()}_BLOCK_K, true><<<grid, ${prefix.toUpperCase()}_BLOCK_Q, 0, stream>>>(p, *dyn, bits);`,
    `  else spattn::mask_tile_bits<${prefix.toUpperCase()}_BLOCK_Q, ${prefix.toUpperCase()}_BLOCK_K, false><<<grid, ${prefix.toUpperCase()}_BLOCK_Q, 0, stream>>>(p, *dyn, bits);`,
    "  return (int)cudaGetLastError();",
    "}",
    "",
  ];
}
