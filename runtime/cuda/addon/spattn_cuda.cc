// spattn's native runtime addon: loads a generated kernel library (a .so built by nvcc from
// `spattn compile --target cuda`) and calls its host runner with typed arrays from Node.
// It links no CUDA library itself, so it builds on machines without a GPU or a CUDA toolkit;
// a library that finds no device answers with its own message.
#include <dlfcn.h>
#include <napi.h>

#include <string>
#include <vector>

extern "C" {
// Mirrors spattn_run_args in every generated header.
typedef struct spattn_run_args {
  const float* q;
  const float* k;
  const float* v;
  float* o;
  float* lse;
  int batch, heads, kv_heads, seq_len, head_dim, dtype;
  const int* token_map;
  int map_len;
  const int* kv_num;
  const int* kv_idx;
  const int* full_num;
  const int* full_idx;
  int stride, tile_heads, num_q_tiles;
  const void* const* dyn;
  const long long* dyn_bytes;
  int dyn_count;
} spattn_run_args;
typedef int (*run_host_fn)(const spattn_run_args*, char*, int);
}

namespace {

std::vector<void*> libraries;

Napi::Value Fail(const Napi::Env& env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

/** loadLibrary(path): handle. */
Napi::Value LoadLibrary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) return Fail(env, "loadLibrary(path) needs a path");
  std::string path = info[0].As<Napi::String>();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return Fail(env, std::string("cannot load ") + path + ": " + dlerror());
  libraries.push_back(handle);
  return Napi::Number::New(env, static_cast<double>(libraries.size() - 1));
}

template <typename A>
bool Typed(const Napi::Object& o, const char* key, A** out, size_t* length, bool optional) {
  Napi::Value v = o.Get(key);
  if (optional && (v.IsNull() || v.IsUndefined())) {
    *out = nullptr;
    if (length) *length = 0;
    return true;
  }
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  *out = reinterpret_cast<A*>(static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
  if (length) *length = t.ByteLength();
  return true;
}

int Int(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Number>().Int32Value(); }

/** runHost(handle, symbol, args): { code, message }. */
Napi::Value RunHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsObject()) {
    return Fail(env, "runHost(handle, symbol, args)");
  }
  size_t index = info[0].As<Napi::Number>().Uint32Value();
  if (index >= libraries.size()) return Fail(env, "unknown library handle");
  std::string symbol = info[1].As<Napi::String>();
  auto fn = reinterpret_cast<run_host_fn>(dlsym(libraries[index], symbol.c_str()));
  if (!fn) return Fail(env, "the kernel library has no " + symbol);
  Napi::Object o = info[2].As<Napi::Object>();
  spattn_run_args a{};
  float* q = nullptr;
  float* k = nullptr;
  float* v = nullptr;
  bool ok = Typed(o, "q", &q, nullptr, false) && Typed(o, "k", &k, nullptr, false) && Typed(o, "v", &v, nullptr, false) &&
            Typed(o, "o", &a.o, nullptr, false) && Typed(o, "lse", &a.lse, nullptr, true);
  int* map = nullptr;
  int* kv_num = nullptr;
  int* kv_idx = nullptr;
  int* full_num = nullptr;
  int* full_idx = nullptr;
  // The lists may be null together: the kernel library then builds them on the device.
  ok = ok && Typed(o, "tokenMap", &map, nullptr, true) && Typed(o, "kvNum", &kv_num, nullptr, true) &&
       Typed(o, "kvIdx", &kv_idx, nullptr, true) && Typed(o, "fullNum", &full_num, nullptr, true) &&
       Typed(o, "fullIdx", &full_idx, nullptr, true);
  if (!ok) return Fail(env, "runHost: q, k, v and o must be typed arrays, and tokenMap, kvNum, kvIdx, fullNum and fullIdx typed arrays or null");
  if (!kv_num != !kv_idx || !kv_num != !full_num || !kv_num != !full_idx)
    return Fail(env, "runHost: kvNum, kvIdx, fullNum and fullIdx are given together or not at all");
  a.q = q;
  a.k = k;
  a.v = v;
  a.token_map = map;
  a.kv_num = kv_num;
  a.kv_idx = kv_idx;
  a.full_num = full_num;
  a.full_idx = full_idx;
  a.batch = Int(o, "batch");
  a.heads = Int(o, "heads");
  a.kv_heads = Int(o, "kvHeads");
  a.seq_len = Int(o, "seqLen");
  a.head_dim = Int(o, "headDim");
  a.dtype = Int(o, "dtype");
  a.map_len = Int(o, "mapLen");
  a.stride = Int(o, "stride");
  a.tile_heads = Int(o, "tileHeads");
  a.num_q_tiles = Int(o, "numQTiles");
  Napi::Array dyn = o.Get("dyn").As<Napi::Array>();
  std::vector<const void*> ptrs;
  std::vector<long long> bytes;
  for (uint32_t i = 0; i < dyn.Length(); ++i) {
    Napi::Value item = dyn.Get(i);
    if (!item.IsTypedArray()) return Fail(env, "runHost: dyn entries must be typed arrays");
    Napi::TypedArray t = item.As<Napi::TypedArray>();
    ptrs.push_back(static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
    bytes.push_back(static_cast<long long>(t.ByteLength()));
  }
  a.dyn = ptrs.data();
  a.dyn_bytes = bytes.data();
  a.dyn_count = static_cast<int>(ptrs.size());
  char message[512] = {0};
  int code = fn(&a, message, sizeof message);
  Napi::Object result = Napi::Object::New(env);
  result.Set("code", Napi::Number::New(env, code));
  result.Set("message", Napi::String::New(env, message));
  return result;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("loadLibrary", Napi::Function::New(env, LoadLibrary));
  exports.Set("runHost", Napi::Function::New(env, RunHost));
  return exports;
}

}  // namespace

NODE_API_MODULE(spattn_cuda, Init)
