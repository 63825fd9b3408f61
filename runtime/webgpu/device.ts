// A WebGPU device in Node through the `webgpu` package (Dawn). On a machine without a GPU,
// Dawn finds SwiftShader's Vulkan driver when VK_ICD_FILENAMES names it (Debian's chromium
// package ships it; `swiftShaderIcd()` finds the file). Every missing piece is an error that
// names it.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";

import { SpattnWebGpuError } from "../../backends/wgsl/templates/host.js";

/** The runtime's failures: the host code's error class, so one `instanceof` catches both. */
export { SpattnWebGpuError as WebGpuRuntimeError };

/** SwiftShader's Vulkan ICD from Debian's chromium packages, if installed. */
export function swiftShaderIcd(): string | undefined {
  for (const p of ["/usr/lib/chromium/vk_swiftshader_icd.json", "/usr/lib/chromium-browser/vk_swiftshader_icd.json"]) if (existsSync(p)) return p;
  return undefined;
}

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: DawnModule | undefined;
let gpu: GPU | undefined;

function loadDawn(): DawnModule {
  if (dawn) return dawn;
  try {
    dawn = createRequire(import.meta.url)("webgpu") as DawnModule;
  } catch (e) {
    throw new SpattnWebGpuError(`the WebGPU runtime needs the "webgpu" package (Dawn for Node): ${(e as Error).message}`);
  }
  // GPUBufferUsage, GPUMapMode and friends, which browsers define globally.
  for (const [name, value] of Object.entries(dawn.globals)) if (!(name in globalThis)) Object.assign(globalThis, { [name]: value });
  return dawn;
}

export interface DeviceInfo {
  device: GPUDevice;
  /** The adapter's description (SwiftShader, a GPU's name). */
  adapter: string;
  features: string[];
}

/**
 * A device with the adapter's own limits for workgroup storage and storage buffers (a default
 * device gets 16 KiB and 8), and its `subgroups`, `shader-f16` and `timestamp-query` features
 * where offered.
 * Dawn's workgroup-memory zeroing is turned off: the shaders write what they read.
 */
export async function requestDevice(): Promise<DeviceInfo> {
  const d = loadDawn();
  if (!process.env.VK_ICD_FILENAMES) {
    const icd = swiftShaderIcd();
    if (icd) process.env.VK_ICD_FILENAMES = icd;
  }
  gpu ??= d.create(["enable-dawn-features=disable_workgroup_init"]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new SpattnWebGpuError(
      "no WebGPU adapter: without a GPU, install Debian's chromium package (it ships SwiftShader's Vulkan driver, vk_swiftshader_icd.json) and libvulkan1, or set VK_ICD_FILENAMES",
    );
  }
  const wanted: GPUFeatureName[] = ["subgroups" as GPUFeatureName, "shader-f16", "timestamp-query"];
  const features = wanted.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  return { device, adapter: adapter.info?.description || adapter.info?.device || "unknown adapter", features };
}

/** Destroys the device and drops this module's reference to Dawn's GPU object: while it is
 *  held, Dawn keeps Node's event loop alive and the process does not exit. */
export function releaseDevice(info: DeviceInfo): void {
  info.device.destroy();
  gpu = undefined;
}
