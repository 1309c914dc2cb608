#include "backend/cuda/cupti_tracer.h"

#include <cuda_runtime.h>

#if __has_include(<cupti_activity.h>)
#define LRKV_HAVE_CUPTI_HEADERS 1
#include <cupti_activity.h>
#include <cupti_result.h>
#include <cupti_version.h>
#include <cxxabi.h>
#include <dlfcn.h>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_status.h"

#ifndef LRKV_CUDA_LIB_DIR
#define LRKV_CUDA_LIB_DIR ""
#endif
#ifndef LRKV_CUDA_ROOT
#define LRKV_CUDA_ROOT ""
#endif

namespace lrkv::cuda {

#ifdef LRKV_HAVE_CUPTI_HEADERS
namespace {

// The CUPTI entry points lrkv calls, resolved from the library opened at run time.
struct Cupti {
  CUptiResult (*register_callbacks)(CUpti_BuffersCallbackRequestFunc, CUpti_BuffersCallbackCompleteFunc) = nullptr;
  CUptiResult (*enable)(CUpti_ActivityKind) = nullptr;
  CUptiResult (*disable)(CUpti_ActivityKind) = nullptr;
  CUptiResult (*flush_all)(uint32_t) = nullptr;
  CUptiResult (*next_record)(uint8_t*, size_t, CUpti_Activity**) = nullptr;
  CUptiResult (*dropped)(CUcontext, uint32_t, size_t*) = nullptr;
  CUptiResult (*timestamp)(uint64_t*) = nullptr;
  CUptiResult (*result_string)(CUptiResult, const char**) = nullptr;
  CUptiResult (*version)(uint32_t*) = nullptr;
  std::string path;
};

template <typename F>
bool resolve(void* lib, const char* name, F* f) {
  *f = reinterpret_cast<F>(dlsym(lib, name));
  return *f != nullptr;
}

// Opens libcupti once per process (never closed: CUPTI keeps threads and callbacks).
Result<const Cupti*> load_cupti() {
  static Cupti c;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string so = fmt::format("libcupti.so.{}", CUDART_VERSION / 1000);
    std::vector<std::string> tries;
    if (const char* env = std::getenv("LRKV_CUPTI_LIB"); env && *env) tries.push_back(env);
    tries.push_back(so);
    for (const std::string dir : {std::string(LRKV_CUDA_LIB_DIR), std::string(LRKV_CUDA_ROOT) + "/lib64",
                                  std::string(LRKV_CUDA_ROOT) + "/extras/CUPTI/lib64",
                                  std::string("/usr/local/cuda/lib64"),
                                  std::string("/usr/local/cuda/extras/CUPTI/lib64")}) {
      const std::string path = dir + "/" + so;  // the toolkit's own dirs are often these same ones
      if (dir[0] == '/' && std::find(tries.begin(), tries.end(), path) == tries.end()) tries.push_back(path);
    }
    tries.push_back("libcupti.so");
    void* lib = nullptr;
    for (const std::string& t : tries) {
      if ((lib = dlopen(t.c_str(), RTLD_NOW | RTLD_LOCAL)) != nullptr) {
        c.path = t;
        break;
      }
    }
    if (!lib) {
      error = fmt::format("cannot open CUPTI (tried {}); set LRKV_CUPTI_LIB to the path of libcupti.so",
                          fmt::join(tries, ", "));
      return;
    }
    const bool ok = resolve(lib, "cuptiActivityRegisterCallbacks", &c.register_callbacks) &&
                    resolve(lib, "cuptiActivityEnable", &c.enable) && resolve(lib, "cuptiActivityDisable", &c.disable) &&
                    resolve(lib, "cuptiActivityFlushAll", &c.flush_all) &&
                    resolve(lib, "cuptiActivityGetNextRecord", &c.next_record) &&
                    resolve(lib, "cuptiActivityGetNumDroppedRecords", &c.dropped) &&
                    resolve(lib, "cuptiGetTimestamp", &c.timestamp) &&
                    resolve(lib, "cuptiGetResultString", &c.result_string) && resolve(lib, "cuptiGetVersion", &c.version);
    if (!ok) error = fmt::format("{}: a CUPTI activity function is missing ({})", c.path, dlerror());
  });
  if (!error.empty()) return make_error(ErrorCode::kUnsupported, "kernel profile: {}", error);
  return &c;
}

Status cupti_status(const Cupti& c, CUptiResult r, const char* what) {
  if (r == CUPTI_SUCCESS) return Status::Ok();
  const char* s = nullptr;
  c.result_string(r, &s);
  return make_error(ErrorCode::kInternal, "kernel profile: {}: {}", what, s ? s : "unknown CUPTI error");
}

std::string demangle(const char* name) {
  if (!name) return "(unnamed kernel)";
  int rc = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &rc);
  std::string out = (rc == 0 && d) ? d : name;
  std::free(d);
  return short_kernel_name(out);
}

// What the buffer callbacks (CUPTI's threads) hand over; one tracer at a time owns it.
struct Sink {
  std::mutex mu;
  std::vector<KernelRecord> records;
  size_t dropped = 0;
  const Cupti* cupti = nullptr;
};
Sink g_sink;
std::atomic<bool> g_live{false};

constexpr size_t kBufferBytes = size_t{8} << 20;
constexpr size_t kRecordAlign = 8;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kRecordAlign, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t* buffer, size_t, size_t valid) {
  const Cupti& c = *g_sink.cupti;
  std::vector<KernelRecord> got;
  CUpti_Activity* rec = nullptr;
  while (valid > 0 && c.next_record(buffer, valid, &rec) == CUPTI_SUCCESS) {
    if (rec->kind == CUPTI_ACTIVITY_KIND_MEMCPY || rec->kind == CUPTI_ACTIVITY_KIND_MEMSET) {
      // Copies and fills (graph nodes too) as pseudo-kernels: they take device time between kernels.
      KernelRecord r;
      if (rec->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
        const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(rec);
        r.name = m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_HTOD   ? "[memcpy HtoD]"
                 : m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_DTOH ? "[memcpy DtoH]"
                 : m->copyKind == CUPTI_ACTIVITY_MEMCPY_KIND_DTOD ? "[memcpy DtoD]"
                                                                  : "[memcpy]";
        r.start_ns = m->start;
        r.end_ns = m->end;
      } else {
        const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(rec);
        r.name = "[memset]";
        r.start_ns = m->start;
        r.end_ns = m->end;
      }
      got.push_back(std::move(r));
      continue;
    }
    if (rec->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && rec->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
    // The fields read here lead every kernel record version since CUDA 11.
    const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(rec);
    KernelRecord r;
    r.name = demangle(k->name);
    r.start_ns = k->start;
    r.end_ns = k->end;
    r.grid[0] = k->gridX, r.grid[1] = k->gridY, r.grid[2] = k->gridZ;
    r.block[0] = k->blockX, r.block[1] = k->blockY, r.block[2] = k->blockZ;
    got.push_back(std::move(r));
  }
  size_t dropped = 0;
  c.dropped(ctx, stream, &dropped);
  std::free(buffer);
  std::lock_guard<std::mutex> lock(g_sink.mu);
  g_sink.dropped += dropped;
  for (KernelRecord& r : got) g_sink.records.push_back(std::move(r));
}

class CuptiTracer final : public KernelTracer {
 public:
  explicit CuptiTracer(const Cupti* c) : c_(c) {}
  ~CuptiTracer() override {
    if (on_) (void)stop();
    g_live.store(false);
  }

  Status start() override {
    if (on_) return make_error(ErrorCode::kInternal, "kernel profile: start() twice");
    {
      std::lock_guard<std::mutex> lock(g_sink.mu);
      g_sink.records.clear();
      g_sink.dropped = 0;
    }
    LRKV_RETURN_IF_ERROR(cupti_status(*c_, c_->enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "enable kernel tracing"));
    on_ = true;
    LRKV_RETURN_IF_ERROR(cupti_status(*c_, c_->enable(CUPTI_ACTIVITY_KIND_MEMCPY), "enable copy tracing"));
    LRKV_RETURN_IF_ERROR(cupti_status(*c_, c_->enable(CUPTI_ACTIVITY_KIND_MEMSET), "enable memset tracing"));
    return Status::Ok();
  }

  uint64_t now_ns() override {
    uint64_t t = 0;
    c_->timestamp(&t);
    return t;
  }

  Result<std::vector<KernelRecord>> stop() override {
    if (!on_) return make_error(ErrorCode::kInternal, "kernel profile: stop() without start()");
    on_ = false;
    const Status sync = cuda_status(cudaDeviceSynchronize(), "kernel profile: synchronize");
    const Status flush = cupti_status(*c_, c_->flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "flush");
    Status off = cupti_status(*c_, c_->disable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "disable kernel tracing");
    for (CUpti_ActivityKind k : {CUPTI_ACTIVITY_KIND_MEMCPY, CUPTI_ACTIVITY_KIND_MEMSET}) {
      const Status s = cupti_status(*c_, c_->disable(k), "disable copy tracing");
      if (off.ok()) off = s;
    }
    LRKV_RETURN_IF_ERROR(sync);
    LRKV_RETURN_IF_ERROR(flush);
    LRKV_RETURN_IF_ERROR(off);
    std::lock_guard<std::mutex> lock(g_sink.mu);
    if (g_sink.dropped > 0) {
      return make_error(ErrorCode::kInternal, "kernel profile: CUPTI dropped {} kernel records", g_sink.dropped);
    }
    return std::move(g_sink.records);
  }

  std::string source() const override {
    uint32_t v = 0;
    c_->version(&v);
    return fmt::format("CUPTI API {}", v);
  }

 private:
  const Cupti* c_;
  bool on_ = false;
};

}  // namespace

Result<std::unique_ptr<KernelTracer>> make_cupti_tracer() {
  LRKV_ASSIGN_OR_RETURN(const Cupti* c, load_cupti());
  if (g_live.exchange(true)) {
    return make_error(ErrorCode::kInternal, "kernel profile: another kernel tracer is live (one per process)");
  }
  static std::once_flag registered;
  static CUptiResult reg = CUPTI_SUCCESS;
  std::call_once(registered, [c] {
    g_sink.cupti = c;
    reg = c->register_callbacks(buffer_requested, buffer_completed);
  });
  if (Status s = cupti_status(*c, reg, "register activity buffers"); !s.ok()) {
    g_live.store(false);
    return s;
  }
  return std::unique_ptr<KernelTracer>(new CuptiTracer(c));
}

#else

Result<std::unique_ptr<KernelTracer>> make_cupti_tracer() {
  return make_error(ErrorCode::kUnsupported,
                    "kernel profile: lrkv was built without CUPTI's headers (cupti_activity.h of the CUDA toolkit)");
}

#endif

}  // namespace lrkv::cuda
