// Block masks as files: FlexAttention's BlockMask layout in JSON.
//
// FlexAttention keeps, per (batch, head, query block), the count and indices of key blocks
// that need the mask_mod (partial: `kv_num_blocks`, `kv_indices`) and of key blocks computed
// without it (full: `full_kv_num_blocks`, `full_kv_indices`). We write the same fields per
// head, with each row's indices sorted ascending and unpadded; torch users pad rows to
// num_kv_blocks and call BlockMask.from_kv_blocks (see docs/cli.md).
import type { BlockMask } from "../../compiler/blockmask/build.js";
import type { BlockRows } from "../../compiler/blockmask/lib.js";
import type { Permutation } from "../../compiler/passes/permute.js";

export interface BsrJson {
  format: "spattn.bsr/1";
  seq_len: number;
  heads: number;
  block_size: [number, number];
  num_q_blocks: number;
  num_kv_blocks: number;
  kv_num_blocks: number[][];
  kv_indices: number[][][];
  full_kv_num_blocks: number[][];
  full_kv_indices: number[][][];
  /** Kernel order only (--kernel-order): the permutation and its token map. Block indices
   *  then count positions in kernel order, of which there are token_map.length. */
  order?: Permutation;
  token_map?: number[];
}

function rows(r: BlockRows, nqb: number): { counts: number[]; indices: number[][] } {
  const counts: number[] = [];
  const indices: number[][] = [];
  for (let i = 0; i < nqb; i++) {
    counts.push(r.ptr[i + 1] - r.ptr[i]);
    indices.push(Array.from(r.idx.subarray(r.ptr[i], r.ptr[i + 1])));
  }
  return { counts, indices };
}

export function toBsrJson(bm: BlockMask, kernel?: { permutation: Permutation; map: Int32Array }): BsrJson {
  const partial = bm.perHead.map((h) => rows(h.partial, bm.numQBlocks));
  const full = bm.perHead.map((h) => rows(h.full, bm.numQBlocks));
  return {
    format: "spattn.bsr/1",
    seq_len: bm.seqLen,
    heads: bm.heads,
    block_size: [bm.blockQ, bm.blockK],
    num_q_blocks: bm.numQBlocks,
    num_kv_blocks: bm.numKBlocks,
    kv_num_blocks: partial.map((p) => p.counts),
    kv_indices: partial.map((p) => p.indices),
    full_kv_num_blocks: full.map((p) => p.counts),
    full_kv_indices: full.map((p) => p.indices),
    ...(kernel ? { order: kernel.permutation, token_map: Array.from(kernel.map) } : {}),
  };
}

/** Compact JSON: one line per query-block row, so large masks stay diffable and parse fast. */
export function formatBsrJson(j: BsrJson): string {
  const lines: string[] = ["{"];
  const scalar = (k: string, v: unknown) => lines.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  scalar("format", j.format);
  scalar("seq_len", j.seq_len);
  scalar("heads", j.heads);
  scalar("block_size", j.block_size);
  scalar("num_q_blocks", j.num_q_blocks);
  scalar("num_kv_blocks", j.num_kv_blocks);
  const counts = (k: string, v: number[][]) => {
    lines.push(`  ${JSON.stringify(k)}: [\n    ${v.map((h) => JSON.stringify(h)).join(",\n    ")}\n  ],`);
  };
  const indices = (k: string, v: number[][][], last: boolean) => {
    const heads = v.map((head) => `[\n      ${head.map((row) => JSON.stringify(row)).join(",\n      ")}\n    ]`);
    lines.push(`  ${JSON.stringify(k)}: [\n    ${heads.join(",\n    ")}\n  ]${last ? "" : ","}`);
  };
  counts("kv_num_blocks", j.kv_num_blocks);
  indices("kv_indices", j.kv_indices, false);
  counts("full_kv_num_blocks", j.full_kv_num_blocks);
  indices("full_kv_indices", j.full_kv_indices, !j.token_map);
  if (j.order && j.token_map) {
    scalar("order", j.order);
    lines.push(`  "token_map": ${JSON.stringify(j.token_map)}`);
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
