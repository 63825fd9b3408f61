// Names that come from a pattern file reach generated code only through these helpers.

/** A safe identifier for C-like languages (TypeScript, CUDA, WGSL): [A-Za-z_][A-Za-z0-9_]*,
 *  never a reserved word of those languages, never starting with a double underscore. */
export function sanitizeIdent(name: string, prefix = "p_"): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, "_");
  if (!/^[A-Za-z_]/.test(s)) s = prefix + s;
  if (s.startsWith("__")) s = prefix + s;
  if (RESERVED.has(s)) s = prefix + s;
  return s;
}

/** Text safe inside a one-line comment of any backend. */
export function commentText(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, " ").replace(/\*\//g, "* /").replace(/[^\x20-\x7e]/g, "?");
}

const RESERVED = new Set(
  (
    "abstract any as async await bool boolean break case catch char class const constructor continue debugger declare default delete do " +
    "double else enum export extends false final finally float for from function get goto if implements import in instanceof int interface " +
    "let long module namespace new null number of package private protected public readonly require return set short signed sizeof static " +
    "string struct super switch symbol this throw true try type typedef typeof undefined union unsigned var void volatile while with yield " +
    "fn loop override ptr storage uniform workgroup array atomic mat2x2 mat3x3 mat4x4 vec2 vec3 vec4 f16 f32 i32 u32 bitcast discard " +
    "fallthrough alias enable requires diagnostic texture sampler __global__ __device__ __shared__ __host__ half"
  ).split(" "),
);
