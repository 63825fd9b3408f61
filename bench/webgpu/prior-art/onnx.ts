// A minimal ONNX model writer (protobuf by hand): one node with integer attributes, float32
// inputs and outputs. Enough to run one ONNX Runtime operator on given tensors.
const utf8 = new TextEncoder();

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, n: number) => [...tag(field, 0), ...varint(n)];
const bytes = (field: number, b: number[]) => [...tag(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...utf8.encode(s)]);
const msg = (field: number, parts: number[][]) => bytes(field, parts.flat());

export interface OnnxTensor {
  name: string;
  dims: number[];
}

/** ValueInfoProto of a float32 tensor (TypeProto.Tensor, elem_type 1 = FLOAT). */
function valueInfo(field: number, t: OnnxTensor): number[] {
  const shape = t.dims.map((d) => msg(1, [int(1, d)]));
  return msg(field, [str(1, t.name), msg(2, [msg(1, [int(1, 1), msg(2, shape)])])]);
}

/** ModelProto (IR version 8, opsets: default 17 and com.microsoft 1) of the single node. */
export function singleNodeModel(node: { op: string; domain: string; inputs: OnnxTensor[]; outputs: OnnxTensor[]; attrs: Record<string, number> }): Uint8Array {
  const attrs = Object.entries(node.attrs).map(([name, v]) => msg(5, [str(1, name), int(3, v), int(20, 2)])); // type 2 = INT
  const nodeProto = msg(1, [...node.inputs.map((i) => str(1, i.name)), ...node.outputs.map((o) => str(2, o.name)), str(3, "node"), str(4, node.op), ...attrs, str(7, node.domain)]);
  const graph = msg(7, [nodeProto, str(2, "graph"), ...node.inputs.map((i) => valueInfo(11, i)), ...node.outputs.map((o) => valueInfo(12, o))]);
  return Uint8Array.from([int(1, 8), msg(8, [str(1, ""), int(2, 17)]), msg(8, [str(1, "com.microsoft"), int(2, 1)]), graph].flat());
}
