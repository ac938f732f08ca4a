// The emulated GPU has no cuBLAS. native/baselines opens cuBLASLt with
// dlopen when the baselines are first asked for; on a machine with the CUDA
// toolkit installed it would find the real library, whose kernels cannot
// run on emulated memory (and which would talk to a real driver, or to
// none). So in the emulation build the addon's own dlopen of a cuBLAS
// library fails, as on a machine without cuBLAS: the baselines report
// themselves unavailable, with the reason dlerror gives.
//
// A path to a file that does not exist is left to the C library's dlopen,
// whose error ("No such file or directory") is the accurate one; a bare
// library name or an existing file is refused with a message saying why.
//
// These definitions are hidden: they bind the addon's own calls at link
// time and are not exported, so nothing else in the process is affected.
// Every other dlopen goes to the C library's.
#include <dlfcn.h>
#include <unistd.h>

#include <cstring>

namespace moekit {
namespace emu {
namespace libraries_detail {

constexpr char REFUSAL[] = "cuBLAS is not available on the emulated GPU (moekit's emulation build)";

thread_local bool refusal_pending = false;
thread_local char refusal_text[sizeof REFUSAL];

// A cuBLAS library the dynamic loader could open.
bool refused(const char* file) {
  if (file == nullptr) return false;
  const char* slash = std::strrchr(file, '/');
  const char* name = slash ? slash + 1 : file;
  if (std::strncmp(name, "libcublas", 9) != 0) return false;
  return slash == nullptr || access(file, F_OK) == 0;
}

using DlopenFn = void* (*)(const char*, int);
using DlerrorFn = char* (*)();

// The C library's own (hidden symbols are not in the dynamic symbol table,
// so the default lookup does not find these).
DlopenFn real_dlopen() {
  static const DlopenFn fn = reinterpret_cast<DlopenFn>(dlsym(RTLD_DEFAULT, "dlopen"));
  return fn;
}

DlerrorFn real_dlerror() {
  static const DlerrorFn fn = reinterpret_cast<DlerrorFn>(dlsym(RTLD_DEFAULT, "dlerror"));
  return fn;
}

}  // namespace libraries_detail
}  // namespace emu
}  // namespace moekit

extern "C" __attribute__((visibility("hidden"))) void* dlopen(const char* file, int mode) noexcept {
  namespace ld = moekit::emu::libraries_detail;
  if (ld::refused(file)) {
    std::memcpy(ld::refusal_text, ld::REFUSAL, sizeof ld::REFUSAL);
    ld::refusal_pending = true;
    return nullptr;
  }
  ld::refusal_pending = false;
  const ld::DlopenFn real = ld::real_dlopen();
  return real ? real(file, mode) : nullptr;
}

extern "C" __attribute__((visibility("hidden"))) char* dlerror() noexcept {
  namespace ld = moekit::emu::libraries_detail;
  if (ld::refusal_pending) {
    ld::refusal_pending = false;
    return ld::refusal_text;
  }
  const ld::DlerrorFn real = ld::real_dlerror();
  return real ? real() : nullptr;
}
