// .npy reader/writer: round trips, headers as NumPy writes them (built by hand from the
// format spec), clear errors, atomic writes, and, where NumPy is installed, a cross-check.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDirs } from "../helpers.js";
import { decodeNpy, encodeNpy, NpyError, readNpy, writeFileAtomic, writeNpyAtomic, type NpyArray, type NpyDtype, type NpyInput } from "../../runtime/npy.js";

const freshDir = tempDirs("spattn-npy-");

/** `\x93NUMPY` + version + little-endian header length (2 or 4 bytes) + header text + data. */
function npyBytes(major: number, header: string, data: Uint8Array, encoding: "latin1" | "utf8" = "latin1"): Uint8Array {
  const text = Buffer.from(header, encoding);
  const lenBytes = major === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lenBytes + text.length + data.length);
  out.set([0x93, ...Buffer.from("NUMPY", "latin1"), major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, 8 + lenBytes);
  out.set(data, 8 + lenBytes + text.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** Expect `fn` to throw an NpyError whose message matches every pattern. */
function expectNpyError(fn: () => unknown, ...patterns: RegExp[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(NpyError);
  for (const p of patterns) expect((caught as Error).message).toMatch(p);
}

/** The elements of array data as plain numbers or bigints, whatever its typed array. */
function values(data: NpyArray["data"] | NpyInput["data"]): (number | bigint)[] {
  return Array.from(data as ArrayLike<number | bigint>);
}

function sampleData(dtype: NpyDtype, count: number): NpyInput["data"] {
  const idx = Array.from({ length: count }, (_, i) => i);
  switch (dtype) {
    case "<f4":
      return Float32Array.from(idx, (i) => (i % 2 ? -1 : 1) * i * 0.375 + 1e-3 * i);
    case "<f8":
      return Float64Array.from(idx, (i) => Math.PI * (i - 7) + 1e-300 * i);
    case "|b1":
      return Uint8Array.from(idx, (i) => (i % 3 === 0 ? 1 : 0));
    case "|u1":
      return Uint8Array.from(idx, (i) => (i * 37) % 256);
    case "<i4":
      return Int32Array.from(idx, (i) => (i % 2 ? -1 : 1) * (i * 104729 + 0x7ff00000 * (i === 1 ? 1 : 0)));
    case "<i8":
      return BigInt64Array.from(idx, (i) => (i === 0 ? -(2n ** 63n) : i === 1 ? 2n ** 63n - 1n : BigInt(i) * 12345678901n));
  }
}

const DTYPES: NpyDtype[] = ["<f4", "<f8", "|b1", "|u1", "<i4", "<i8"];
const SHAPES: number[][] = [[], [0], [5], [1, 2, 3, 4], [3, 0, 2], [2, 7]];

describe("encodeNpy / decodeNpy round trip", () => {
  for (const dtype of DTYPES) {
    for (const shape of SHAPES) {
      it(`${dtype} shape [${shape.join(", ")}]`, () => {
        const count = shape.reduce((a, b) => a * b, 1);
        const data = sampleData(dtype, count);
        const bytes = encodeNpy({ dtype, shape, data });
        // Header and data both start on 64-byte boundaries; the file has nothing else.
        const headerLen = new DataView(bytes.buffer).getUint16(8, true);
        expect((10 + headerLen) % 64).toBe(0);
        expect(bytes.length).toBe(10 + headerLen + count * (dtype === "<f8" || dtype === "<i8" ? 8 : dtype === "<i4" || dtype === "<f4" ? 4 : 1));

        const back = decodeNpy(bytes);
        expect(back.dtype).toBe(dtype);
        expect(back.shape).toEqual(shape);
        expect(back.data.constructor).toBe(data.constructor);
        expect(values(back.data)).toEqual(values(data));
      });
    }
  }

  it("keeps NaN, infinities and -0 of floats bit for bit", () => {
    for (const dtype of ["<f4", "<f8"] as const) {
      const data = [NaN, Infinity, -Infinity, -0, 0, 1e-45, -3.5e38];
      const back = decodeNpy(encodeNpy({ dtype, shape: [data.length], data }));
      const want = dtype === "<f4" ? Float32Array.from(data) : Float64Array.from(data);
      expect(new Uint8Array(back.data.buffer)).toEqual(new Uint8Array(want.buffer));
    }
  });

  it("accepts plain number arrays and converts them to the dtype", () => {
    expect(values(decodeNpy(encodeNpy({ dtype: "<i8", shape: [3], data: [-5, 0, 2 ** 53 - 1] })).data)).toEqual([-5n, 0n, 2n ** 53n - 1n]);
    expect(values(decodeNpy(encodeNpy({ dtype: "|b1", shape: [4], data: [0, 2, -1, 0] })).data)).toEqual([0, 1, 1, 0]);
    expect(values(decodeNpy(encodeNpy({ dtype: "<f4", shape: [2, 1], data: [0.1, 2] })).data)).toEqual([Math.fround(0.1), 2]);
  });

  it("writes the header NumPy expects", () => {
    const bytes = encodeNpy({ dtype: "<f4", shape: [2, 3], data: new Float32Array(6) });
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLen = new DataView(bytes.buffer).getUint16(8, true);
    expect(headerLen).toBe(118);
    const header = Buffer.from(bytes.subarray(10, 10 + headerLen)).toString("latin1");
    expect(header).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    const text = (shape: number[]): string => Buffer.from(encodeNpy({ dtype: "|u1", shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1)) })).toString("latin1");
    expect(text([])).toContain("'shape': (), }");
    expect(text([7])).toContain("'shape': (7,), }");
  });

  it("switches to format 2.0 when the header does not fit a 16-bit length", () => {
    const shape = new Array<number>(25000).fill(1);
    const bytes = encodeNpy({ dtype: "<f8", shape, data: [2.5] });
    expect(bytes[6]).toBe(2);
    const headerLen = new DataView(bytes.buffer).getUint32(8, true);
    expect(headerLen).toBeGreaterThan(0xffff);
    expect((12 + headerLen) % 64).toBe(0);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual(shape);
    expect(values(back.data)).toEqual([2.5]);
  });
});

describe("decodeNpy of hand-built files", () => {
  // np.save(f, np.array([1.5, -2, 0.25], dtype=np.float32)) writes exactly this: NumPy adds
  // spare spaces (room for the shape to grow in place) and pads the header to 128 bytes.
  const numpyHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" + " ".repeat(60) + "\n";

  it("reads a float32 file as NumPy writes it", () => {
    expect(10 + numpyHeader.length).toBe(128);
    const bytes = npyBytes(1, numpyHeader, f32Bytes([1.5, -2, 0.25]));
    expect(Array.from(bytes.subarray(8, 10))).toEqual([118, 0]);
    const a = decodeNpy(bytes);
    expect(a).toEqual<NpyArray>({ dtype: "<f4", shape: [3], data: Float32Array.from([1.5, -2, 0.25]), fortranOrder: false });
  });

  it("reads data at an unaligned offset, and copies it", () => {
    const file = npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}\n", new Uint8Array(Float64Array.from([3, -4]).buffer));
    // Place the file at an odd offset of a larger buffer: the data cannot be viewed in place.
    const big = new Uint8Array(file.length + 3);
    big.set(file, 3);
    const a = decodeNpy(big.subarray(3));
    expect(values(a.data)).toEqual([3, -4]);
    big.fill(0);
    expect(values(a.data)).toEqual([3, -4]);
  });

  it("reads a version 2.0 header", () => {
    const header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }" + " ".repeat(3) + "\n";
    const a = decodeNpy(npyBytes(2, header, new Uint8Array(Int32Array.from([1, -2, 3, -4]).buffer)));
    expect(a.dtype).toBe("<i4");
    expect(a.shape).toEqual([2, 2]);
    expect(values(a.data)).toEqual([1, -2, 3, -4]);
  });

  it("reads a version 3.0 (UTF-8) header", () => {
    const a = decodeNpy(npyBytes(3, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }\n", Uint8Array.from([1, 2, 255]), "utf8"));
    expect(a.dtype).toBe("|u1");
    expect(values(a.data)).toEqual([1, 2, 255]);
  });

  it("accepts any key order, free whitespace, double quotes and Python 2 longs", () => {
    const header = '{ "shape" : ( 2 ,3L ) ,\n  "fortran_order":False,"descr":"|b1"}   \n';
    const a = decodeNpy(npyBytes(1, header, Uint8Array.from([1, 0, 0, 1, 1, 0])));
    expect(a.dtype).toBe("|b1");
    expect(a.shape).toEqual([2, 3]);
    expect(values(a.data)).toEqual([1, 0, 0, 1, 1, 0]);
    // '<u1' and '|u1' are the same single-byte type.
    expect(decodeNpy(npyBytes(1, "{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }\n", Uint8Array.from([9]))).dtype).toBe("|u1");
  });
});

describe("decodeNpy errors", () => {
  const header = (descr: string, fortran: string, shape: string): string => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;

  it("rejects a file without the magic string", () => {
    expectNpyError(() => decodeNpy(Buffer.from("PK\x03\x04 this is a zip file"), "weights.npy"), /^weights\.npy: /, /not a \.npy file/, /bad magic/);
    expectNpyError(() => decodeNpy(new Uint8Array(0)), /bad magic/);
  });

  it("rejects big-endian and unsupported dtypes, naming them", () => {
    expectNpyError(() => decodeNpy(npyBytes(1, header(">f4", "False", "(1,)"), new Uint8Array(4))), /big-endian/, /'>f4'/);
    expectNpyError(() => decodeNpy(npyBytes(1, header("<f2", "False", "(1,)"), new Uint8Array(2))), /unsupported dtype '<f2'/, /<f4/);
    expectNpyError(() => decodeNpy(npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", new Uint8Array(4))), /structured/);
  });

  it("rejects Fortran-ordered data", () => {
    expectNpyError(() => decodeNpy(npyBytes(1, header("<f4", "True", "(2, 3)"), new Uint8Array(24))), /fortran_order True/);
  });

  it("rejects truncated data and trailing bytes", () => {
    expectNpyError(() => decodeNpy(npyBytes(1, header("<f4", "False", "(2, 3)"), new Uint8Array(20)), "x.npy"), /^x\.npy: truncated data/, /needs 24 bytes/, /has 20/);
    expectNpyError(() => decodeNpy(npyBytes(1, header("<f4", "False", "(2, 3)"), new Uint8Array(28))), /size mismatch/);
    // The header itself cut short.
    expectNpyError(() => decodeNpy(npyBytes(1, header("<f4", "False", "(1,)"), new Uint8Array(4)).subarray(0, 30)), /truncated header/);
    expectNpyError(() => decodeNpy(Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1])), /truncated header/);
  });

  it("rejects malformed headers and unknown versions", () => {
    expectNpyError(() => decodeNpy(npyBytes(1, "{'descr': '<f4', 'shape': (1,)}\n", new Uint8Array(4))), /no 'fortran_order' key/);
    expectNpyError(() => decodeNpy(npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n", new Uint8Array(4))), /unexpected key 'x'/);
    expectNpyError(() => decodeNpy(npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)\n", new Uint8Array(4))), /malformed header/);
    expectNpyError(() => decodeNpy(npyBytes(1, header("<f4", "False", "(-1,)"), new Uint8Array(4))), /bad dimension -1/);
    expectNpyError(() => decodeNpy(npyBytes(1, header("<f4", "False", "3"), new Uint8Array(12))), /'shape' must be a tuple/);
    const v4 = npyBytes(1, header("<f4", "False", "(1,)"), new Uint8Array(4));
    v4[6] = 4;
    expectNpyError(() => decodeNpy(v4), /version 4\.0/);
  });
});

describe("encodeNpy errors", () => {
  it("rejects data that does not match the shape or the dtype", () => {
    expectNpyError(() => encodeNpy({ dtype: "<f4", shape: [2, 3], data: new Float32Array(5) }), /5 elements/, /\[2, 3\] needs 6/);
    expectNpyError(() => encodeNpy({ dtype: "<f4", shape: [-1], data: [] }), /bad dimension -1/);
    expectNpyError(() => encodeNpy({ dtype: "|u1", shape: [1], data: [256] }), /does not fit dtype \|u1/);
    expectNpyError(() => encodeNpy({ dtype: "<i4", shape: [1], data: [0.5] }), /does not fit dtype <i4/);
    expectNpyError(() => encodeNpy({ dtype: "<f2" as NpyDtype, shape: [1], data: [1] }), /unsupported dtype '<f2'/);
  });
});

describe("files", () => {
  it("writeNpyAtomic then readNpy", () => {
    const path = join(freshDir(), "a.npy");
    writeNpyAtomic(path, { dtype: "<i4", shape: [2, 2], data: [1, 2, 3, 4] });
    expect(readNpy(path)).toEqual<NpyArray>({ dtype: "<i4", shape: [2, 2], data: Int32Array.from([1, 2, 3, 4]), fortranOrder: false });
  });

  it("readNpy errors name the path", () => {
    const dir = freshDir();
    expectNpyError(() => readNpy(join(dir, "missing.npy")), /missing\.npy: cannot read/);
    const bad = join(dir, "bad.npy");
    writeFileSync(bad, "not numpy");
    expectNpyError(() => readNpy(bad), new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: not a \\.npy file`));
  });

  it("an encoding error leaves the previous file untouched and no temporary file", () => {
    const dir = freshDir();
    const path = join(dir, "out.npy");
    writeNpyAtomic(path, { dtype: "<f4", shape: [2], data: [1, 2] });
    const before = readFileSync(path);
    expectNpyError(() => writeNpyAtomic(path, { dtype: "<f4", shape: [3, 3], data: [1, 2, 3] }), /needs 9/);
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(dir)).toEqual(["out.npy"]);
  });

  it("writeFileAtomic replaces a file whole and cleans up when the rename fails", () => {
    const dir = freshDir();
    const path = join(dir, "result.json");
    writeFileAtomic(path, '{"a": 1}');
    writeFileAtomic(path, '{"b": 2}');
    expect(readFileSync(path, "utf8")).toBe('{"b": 2}');
    // A non-empty directory in the way: the rename fails after the temporary file is written.
    const blocked = join(dir, "blocked");
    mkdirSync(blocked);
    writeFileSync(join(blocked, "keep"), "x");
    expect(() => writeFileAtomic(blocked, Uint8Array.from([1, 2, 3]))).toThrow();
    expect(readdirSync(dir).sort()).toEqual(["blocked", "result.json"]);
    expect(readdirSync(blocked)).toEqual(["keep"]);
  });
});

// Cross-check with NumPy itself, registered only where python3 can import numpy: the suite
// must pass (and report nothing skipped) on machines without it.
const hasNumpy = spawnSync("python3", ["-c", "import numpy"], { stdio: "ignore" }).status === 0;

if (hasNumpy) {
  describe("NumPy cross-check", () => {
    const script = String.raw`
import json, sys
import numpy as np
from numpy.lib import format as npf

d = sys.argv[1]
spec = json.load(open(d + "/spec.json"))
seen = {}
for name, s in spec.items():
    a = np.load(d + "/" + name + ".npy")
    values = [int(x) for x in s["values"]] if s["dtype"] == "<i8" else s["values"]
    want = np.array(values, dtype=s["dtype"]).reshape(s["shape"])
    seen[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "equal": bool(np.array_equal(a, want))}

np.save(d + "/np_f4.npy", (np.arange(24, dtype="<f4") / 8).reshape(2, 3, 4))
np.save(d + "/np_scalar.npy", np.float64(3.25))
np.save(d + "/np_bool.npy", np.array([[True, False], [False, True]]))
np.save(d + "/np_i8.npy", np.array([-2**63, 2**63 - 1, 0], dtype="<i8"))
np.save(d + "/np_u1_empty.npy", np.zeros((0, 5), dtype=np.uint8))
np.save(d + "/np_i4.npy", np.array([-7, 1 << 30], dtype="<i4"))
np.save(d + "/np_fortran.npy", np.asfortranarray(np.ones((2, 3), "<f4")))
np.save(d + "/np_big.npy", np.ones(3, ">f4"))
np.save(d + "/np_half.npy", np.ones(3, "<f2"))
for v in [(2, 0), (3, 0)]:
    with open(d + "/np_v%d.npy" % v[0], "wb") as f:
        npf.write_array(f, np.array([1.0, -1.0], "<f8"), version=v)
print(json.dumps(seen))
`;

    it("NumPy reads what we write and we read what NumPy writes", () => {
      const dir = freshDir();
      const spec: Record<string, { dtype: NpyDtype; shape: number[]; values: (number | string)[] }> = {};
      for (const dtype of DTYPES) {
        for (const shape of [[], [0], [2, 3], [1, 2, 3, 4]]) {
          const name = `ours_${dtype.slice(1)}_${shape.join("x") || "scalar"}`;
          const data = sampleData(dtype, shape.reduce((a, b) => a * b, 1));
          writeNpyAtomic(join(dir, `${name}.npy`), { dtype, shape, data });
          // int64 travels as strings: JSON numbers would lose the low bits.
          const values = Array.from(data as ArrayLike<number | bigint>, (x) => (typeof x === "bigint" ? x.toString() : x));
          spec[name] = { dtype, shape, values };
        }
      }
      writeFileSync(join(dir, "spec.json"), JSON.stringify(spec));

      const run = spawnSync("python3", ["-c", script, dir], { encoding: "utf8" });
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      const seen = JSON.parse(run.stdout) as Record<string, { dtype: string; shape: number[]; equal: boolean }>;
      for (const [name, s] of Object.entries(spec)) {
        expect(seen[name], name).toEqual({ dtype: s.dtype, shape: s.shape, equal: true });
      }

      const load = (name: string): NpyArray => readNpy(join(dir, `${name}.npy`));
      expect(load("np_f4")).toEqual<NpyArray>({ dtype: "<f4", shape: [2, 3, 4], data: Float32Array.from({ length: 24 }, (_, i) => i / 8), fortranOrder: false });
      expect(load("np_scalar")).toEqual<NpyArray>({ dtype: "<f8", shape: [], data: Float64Array.from([3.25]), fortranOrder: false });
      expect(load("np_bool")).toEqual<NpyArray>({ dtype: "|b1", shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]), fortranOrder: false });
      expect(values(load("np_i8").data)).toEqual([-(2n ** 63n), 2n ** 63n - 1n, 0n]);
      expect(load("np_u1_empty")).toEqual<NpyArray>({ dtype: "|u1", shape: [0, 5], data: new Uint8Array(0), fortranOrder: false });
      expect(values(load("np_i4").data)).toEqual([-7, 1 << 30]);
      expectNpyError(() => load("np_fortran"), /np_fortran\.npy: fortran_order True/);
      expectNpyError(() => load("np_big"), /big-endian dtype '>f4'/);
      expectNpyError(() => load("np_half"), /unsupported dtype '<f2'/);
      for (const v of [2, 3]) {
        const bytes = readFileSync(join(dir, `np_v${v}.npy`));
        expect(bytes[6]).toBe(v);
        expect(values(load(`np_v${v}`).data)).toEqual([1, -1]);
      }
    });
  });
}
