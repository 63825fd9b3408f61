#!/usr/bin/env bash
# What the WebGPU runtime needs on a machine without a GPU: SwiftShader's Vulkan driver, which
# Debian's chromium package ships (vk_swiftshader_icd.json), and the Vulkan loader. Installs
# them with apt where missing (as root, or through sudo); does nothing where they are present.
set -euo pipefail
icd_present() { [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || [ -f /usr/lib/chromium-browser/vk_swiftshader_icd.json ]; }
loader_present() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; }
if icd_present && loader_present; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "setup-swiftshader: no apt-get here; install Chromium (it ships SwiftShader's Vulkan driver) and the Vulkan loader, then set VK_ICD_FILENAMES to its vk_swiftshader_icd.json" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium libvulkan1 >/dev/null
icd_present && loader_present
