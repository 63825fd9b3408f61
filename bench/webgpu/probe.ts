// Which WebGPU adapter Dawn finds here, with the features and limits spattn's host code reads:
// the first thing a GPU machine's run prints, so that a run on the wrong adapter (SwiftShader
// where a GPU was meant) is seen at once.
//   npx tsx bench/webgpu/probe.ts
import { canUseSubgroups } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice } from "../../runtime/webgpu/device.js";

const info = await requestDevice();
const l = info.device.limits;
console.log(`adapter: ${info.adapter}`);
console.log(`features: ${info.features.join(", ") || "none"}; subgroup variant usable: ${canUseSubgroups(info.device)}`);
console.log(
  `limits: workgroup storage ${l.maxComputeWorkgroupStorageSize} B, invocations ${l.maxComputeInvocationsPerWorkgroup}, ` +
    `storage buffers ${l.maxStorageBuffersPerShaderStage}, binding ${l.maxStorageBufferBindingSize} B`,
);
releaseDevice(info);
