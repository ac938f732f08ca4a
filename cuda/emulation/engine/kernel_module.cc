#include "kernel_module.h"

#include <link.h>

namespace moekit {
namespace emu {

namespace {

struct Search {
  uintptr_t anchor;
  KernelTlsRange found;
};

int visit(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<Search*>(data);
  if (info->dlpi_tls_data == nullptr) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_TLS) continue;
    const auto base = reinterpret_cast<uintptr_t>(info->dlpi_tls_data);
    if (s->anchor >= base && s->anchor < base + ph.p_memsz) {
      s->found.base = static_cast<uint8_t*>(info->dlpi_tls_data);
      s->found.bytes = ph.p_memsz;
      return 1;
    }
  }
  return 0;
}

}  // namespace

KernelTlsRange kernel_static_shared() {
  thread_local KernelTlsRange cached;
  thread_local bool looked = false;
  if (!looked) {
    Search s{reinterpret_cast<uintptr_t>(moekit_emu_kernel_tls_anchor()), {}};
    dl_iterate_phdr(visit, &s);
    cached = s.found;
    looked = true;
  }
  return cached;
}

}  // namespace emu
}  // namespace moekit
