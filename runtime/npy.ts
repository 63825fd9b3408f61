// A small, dependency-free reader/writer for NumPy .npy files.
//
// Format (numpy.lib.format): the magic string "\x93NUMPY", a major and a minor version byte,
// the header length (little-endian uint16 for version 1.0, uint32 for 2.0 and 3.0), then the
// header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 8), }
// padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes.
// The raw array data follows in C order. Only little-endian, C-ordered arrays of the dtypes
// below are supported: that is all the runtime exchanges with NumPy and PyTorch.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";

export type NpyDtype = "<f4" | "<f8" | "|b1" | "|u1" | "<i4" | "<i8";

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array;
  fortranOrder?: false;
}

/** What encodeNpy accepts: plain numbers for any dtype, or a BigInt64Array (exact for '<i8'). */
export interface NpyInput {
  dtype: NpyDtype;
  shape: number[];
  data: ArrayLike<number> | BigInt64Array;
}

export class NpyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NpyError";
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ALIGN = 64;

const ITEM_SIZE: Record<NpyDtype, number> = { "<f4": 4, "<f8": 8, "|b1": 1, "|u1": 1, "<i4": 4, "<i8": 8 };
const SUPPORTED = Object.keys(ITEM_SIZE).join(", ");

function isDtype(s: string): s is NpyDtype {
  return Object.hasOwn(ITEM_SIZE, s);
}

// Every multi-byte value is stored little-endian; on a (rare) big-endian host the bytes of
// each item are swapped in place after reading and before writing.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(bytes: Uint8Array, itemSize: number): void {
  if (HOST_LITTLE_ENDIAN || itemSize === 1) return;
  for (let off = 0; off < bytes.length; off += itemSize) bytes.subarray(off, off + itemSize).reverse();
}

// ---------------------------------------------------------------------------------------------
// Header parsing: a tiny parser for the subset of Python literals that .npy headers use
// (dicts, tuples, lists, strings, ints, True/False/None). Whitespace and key order are free.

type PyValue = string | number | boolean | null | PyValue[] | { tuple: PyValue[] } | Map<string, PyValue>;

/** Integers (Python 2 headers spell longs with an 'L' suffix: (3L, 4L)) and constants; sticky. */
const ATOM = /[+-]?\d+L?|True|False|None/y;

class HeaderParser {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly fail: (msg: string) => never,
  ) {}

  parseTop(): PyValue {
    const v = this.value();
    this.skipSpace();
    if (this.pos !== this.text.length) this.fail(`unexpected ${JSON.stringify(this.text.slice(this.pos, this.pos + 10))} after the header dict`);
    return v;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private peek(): string {
    this.skipSpace();
    return this.text[this.pos] ?? "";
  }

  private expect(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected '${ch}' at offset ${this.pos} of the header`);
    this.pos++;
  }

  /** Items up to `close`, separated by commas; a trailing comma is allowed (as in Python). */
  private items<T>(close: string, item: () => T): { items: T[]; trailingComma: boolean } {
    const items: T[] = [];
    let trailingComma = false;
    while (this.peek() !== close) {
      if (this.peek() === "") this.fail(`unterminated header literal, expected '${close}'`);
      items.push(item());
      trailingComma = false;
      if (this.peek() === ",") {
        this.pos++;
        trailingComma = true;
      } else if (this.peek() !== close) {
        this.fail(`expected ',' or '${close}' at offset ${this.pos} of the header`);
      }
    }
    this.pos++;
    return { items, trailingComma };
  }

  private value(): PyValue {
    const ch = this.peek();
    if (ch === "{") {
      this.pos++;
      const map = new Map<string, PyValue>();
      this.items("}", () => {
        const key = this.value();
        if (typeof key !== "string") this.fail("header dict keys must be strings");
        this.expect(":");
        map.set(key, this.value());
      });
      return map;
    }
    if (ch === "(") {
      this.pos++;
      const { items, trailingComma } = this.items(")", () => this.value());
      // `(3)` is just a parenthesised 3 in Python; only `(3,)` is a 1-tuple.
      if (items.length === 1 && !trailingComma) return items[0];
      return { tuple: items };
    }
    if (ch === "[") {
      this.pos++;
      return this.items("]", () => this.value()).items;
    }
    if (ch === "'" || ch === '"') return this.string(ch);
    ATOM.lastIndex = this.pos;
    const m = ATOM.exec(this.text);
    if (m === null) this.fail(`unexpected ${JSON.stringify(this.text.slice(this.pos, this.pos + 10))} in the header`);
    this.pos += m[0].length;
    if (m[0] === "True") return true;
    if (m[0] === "False") return false;
    if (m[0] === "None") return null;
    return Number(m[0].replace(/L$/, ""));
  }

  private string(quote: string): string {
    this.pos++;
    let out = "";
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined) this.fail("unterminated string in the header");
      if (c === quote) return out;
      if (c === "\\") {
        const e = this.text[this.pos++];
        if (e === undefined) this.fail("unterminated string in the header");
        out += e === "n" ? "\n" : e === "t" ? "\t" : e;
      } else {
        out += c;
      }
    }
  }
}

function describeBytes(b: Uint8Array): string {
  return JSON.stringify(String.fromCharCode(...b));
}

function dtypeFromDescr(descr: PyValue, fail: (msg: string) => never): NpyDtype {
  if (typeof descr !== "string") fail(`structured dtypes are not supported (descr ${JSON.stringify(descr)}); supported: ${SUPPORTED}`);
  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  if (m !== null) {
    const [, order, kind, size] = m;
    // Single bytes have no byte order, so any prefix means the same thing.
    if (size === "1" && (kind === "b" || kind === "u")) return kind === "b" ? "|b1" : "|u1";
    if (order === ">") fail(`big-endian dtype '${descr}' is not supported; save it little-endian, e.g. arr.astype('<${kind}${size}')`);
    if (order === "<" && isDtype(descr)) return descr;
  }
  return fail(`unsupported dtype '${descr}'; supported: ${SUPPORTED}`);
}

/** Decode the bytes of a .npy file. `name` (a file path, typically) prefixes every error message. */
export function decodeNpy(bytes: Uint8Array, name = "<npy>"): NpyArray {
  const fail: (msg: string) => never = (msg) => {
    throw new NpyError(`${name}: ${msg}`);
  };
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(`not a .npy file (bad magic: expected "\\x93NUMPY", found ${describeBytes(bytes.subarray(0, 6))})`);
  }
  if (bytes.length < 10) fail("truncated header");
  const major = bytes[6];
  const minor = bytes[7];
  if (major < 1 || major > 3 || minor !== 0) fail(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart = 10;
  let headerLen = view.getUint16(8, true);
  if (major >= 2) {
    if (bytes.length < 12) fail("truncated header");
    headerStart = 12;
    headerLen = view.getUint32(8, true);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) fail(`truncated header: it claims ${headerLen} bytes but the file has ${bytes.length - headerStart} after the length field`);
  // Versions 1.0 and 2.0 store the header as latin-1, 3.0 as UTF-8.
  const headerText = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, dataStart));

  const header = new HeaderParser(headerText, (msg) => fail(`malformed header ${JSON.stringify(headerText.trim())}: ${msg}`)).parseTop();
  if (!(header instanceof Map)) return fail(`malformed header ${JSON.stringify(headerText.trim())}: not a dict`);
  for (const key of ["descr", "fortran_order", "shape"]) {
    if (!header.has(key)) fail(`header has no '${key}' key: ${headerText.trim()}`);
  }
  for (const key of header.keys()) {
    if (key !== "descr" && key !== "fortran_order" && key !== "shape") fail(`unexpected key '${key}' in the header`);
  }

  const dtype = dtypeFromDescr(header.get("descr")!, fail);
  const fortran = header.get("fortran_order");
  if (typeof fortran !== "boolean") fail(`'fortran_order' must be True or False, found ${JSON.stringify(fortran)}`);
  if (fortran) fail("fortran_order True (column-major data) is not supported; save a C-ordered array, e.g. np.ascontiguousarray(arr)");
  const shapeValue = header.get("shape");
  if (shapeValue === null || typeof shapeValue !== "object" || !("tuple" in shapeValue)) return fail(`'shape' must be a tuple, found ${JSON.stringify(shapeValue)}`);
  const shape = shapeValue.tuple.map((d) => {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) fail(`bad dimension ${JSON.stringify(d)} in shape`);
    return d as number;
  });

  const count = shape.reduce((a, b) => a * b, 1);
  const itemSize = ITEM_SIZE[dtype];
  const expected = count * itemSize;
  if (!Number.isSafeInteger(expected)) fail(`shape (${shape.join(", ")}) is too large`);
  const actual = bytes.length - dataStart;
  if (actual < expected) fail(`truncated data: shape (${shape.join(", ")}) of ${dtype} needs ${expected} bytes, the file has ${actual}`);
  if (actual > expected) fail(`size mismatch: shape (${shape.join(", ")}) of ${dtype} needs ${expected} bytes, the file has ${actual} (trailing data)`);

  // Copy into a fresh buffer: the data offset inside `bytes` need not be aligned for the
  // typed array, and the result must not alias the caller's bytes.
  // (Not `bytes.slice`: on a Node Buffer that returns a view, not a copy.)
  const raw = new Uint8Array(expected);
  raw.set(bytes.subarray(dataStart, dataStart + expected));
  swapBytes(raw, itemSize);
  const buf = raw.buffer;
  let data: NpyArray["data"];
  switch (dtype) {
    case "<f4":
      data = new Float32Array(buf, 0, count);
      break;
    case "<f8":
      data = new Float64Array(buf, 0, count);
      break;
    case "<i4":
      data = new Int32Array(buf, 0, count);
      break;
    case "<i8":
      data = new BigInt64Array(buf, 0, count);
      break;
    case "|b1":
    case "|u1":
      data = raw;
      break;
  }
  return { dtype, shape, data, fortranOrder: false };
}

// ---------------------------------------------------------------------------------------------
// Writing

function headerDict(dtype: NpyDtype, shape: number[]): string {
  // Python's repr of a tuple: `()`, `(5,)`, `(1, 2, 3)`.
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  return `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
}

/** Magic, version, header length and the padded header, for a header of pure ASCII. */
function encodeHeader(dict: string): Uint8Array {
  for (const [major, lenBytes] of [
    [1, 2],
    [2, 4],
  ] as const) {
    const prefix = MAGIC.length + 2 + lenBytes;
    // At least the '\n' terminator, then spaces so the data starts on a 64-byte boundary.
    const unpadded = prefix + dict.length + 1;
    const total = Math.ceil(unpadded / ALIGN) * ALIGN;
    const headerLen = total - prefix;
    if (major === 1 && headerLen > 0xffff) continue;
    const out = new Uint8Array(total);
    out.set(MAGIC, 0);
    out[6] = major;
    out[7] = 0;
    const view = new DataView(out.buffer);
    if (major === 1) view.setUint16(8, headerLen, true);
    else view.setUint32(8, headerLen, true);
    const text = dict + " ".repeat(total - unpadded) + "\n";
    for (let i = 0; i < text.length; i++) out[prefix + i] = text.charCodeAt(i);
    return out;
  }
  throw new NpyError("header too large for the .npy format");
}

function checkShape(shape: number[]): number {
  if (!Array.isArray(shape)) throw new NpyError(`shape must be an array of integers, got ${JSON.stringify(shape)}`);
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new NpyError(`bad dimension ${JSON.stringify(d)} in shape [${shape.join(", ")}]`);
    count *= d;
  }
  return count;
}

/** Integer-valued number in [lo, hi], or an NpyError naming the element. */
function checkedInt(v: number, i: number, dtype: NpyDtype, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new NpyError(`element ${i} (${v}) does not fit dtype ${dtype}`);
  return v;
}

/** Encode an array as the bytes of a .npy file (format version 1.0, or 2.0 for huge headers). */
export function encodeNpy(a: NpyInput): Uint8Array {
  const { dtype, shape, data } = a;
  if (!isDtype(dtype)) throw new NpyError(`unsupported dtype '${String(dtype)}'; supported: ${SUPPORTED}`);
  const count = checkShape(shape);
  if (data.length !== count) throw new NpyError(`data has ${data.length} elements but shape [${shape.join(", ")}] needs ${count}`);

  const header = encodeHeader(headerDict(dtype, shape));
  const itemSize = ITEM_SIZE[dtype];
  const out = new Uint8Array(header.length + count * itemSize);
  out.set(header, 0);
  const body = out.subarray(header.length);
  // `body` starts at a multiple of 64 inside a fresh buffer, so every typed view is aligned.
  const at = (i: number): number => Number(data[i]);
  switch (dtype) {
    case "<f4": {
      const view = new Float32Array(body.buffer, body.byteOffset, count);
      for (let i = 0; i < count; i++) view[i] = at(i);
      break;
    }
    case "<f8": {
      const view = new Float64Array(body.buffer, body.byteOffset, count);
      for (let i = 0; i < count; i++) view[i] = at(i);
      break;
    }
    case "<i4": {
      const view = new Int32Array(body.buffer, body.byteOffset, count);
      for (let i = 0; i < count; i++) view[i] = checkedInt(at(i), i, dtype, -0x80000000, 0x7fffffff);
      break;
    }
    case "<i8": {
      const view = new BigInt64Array(body.buffer, body.byteOffset, count);
      if (data instanceof BigInt64Array) view.set(data);
      else for (let i = 0; i < count; i++) view[i] = BigInt(checkedInt(at(i), i, dtype, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
      break;
    }
    case "|u1":
      for (let i = 0; i < count; i++) body[i] = checkedInt(at(i), i, dtype, 0, 255);
      break;
    case "|b1":
      // NumPy booleans are the bytes 0 and 1; any non-zero value counts as true.
      for (let i = 0; i < count; i++) {
        const v = at(i);
        if (Number.isNaN(v)) throw new NpyError(`element ${i} (NaN) is not a boolean`);
        body[i] = v !== 0 ? 1 : 0;
      }
      break;
  }
  swapBytes(body, itemSize);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

/** Read and decode a .npy file; every error (missing file included) is an NpyError naming the path. */
export function readNpy(path: string): NpyArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new NpyError(`${path}: cannot read: ${(e as Error).message}`);
  }
  return decodeNpy(bytes, path);
}

/**
 * Write `data` to `path` so that readers see either the old file or the complete new one:
 * the bytes go to a temporary file in the same folder (same file system, so the rename is
 * atomic), are flushed to disk, and the temporary file is then renamed over `path`.
 * On any failure the temporary file is removed and `path` is left as it was.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx");
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // Already failing: the original error is the one to report.
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // The temporary file may never have been created.
    }
    throw e;
  }
}

/** Encode `a` and write it atomically to `path`; an encoding error leaves `path` untouched. */
export function writeNpyAtomic(path: string, a: NpyInput): void {
  // Encode first: a bad array must fail before anything touches the file system.
  writeFileAtomic(path, encodeNpy(a));
}
