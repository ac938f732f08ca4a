// Linked into the kernels module (libmoekit_kernels.so) of the emulation
// build: see engine/kernel_module.h. Its one TLS variable sits beside the
// kernels' static __shared__ variables; nothing reads it.
extern "C" __attribute__((visibility("default"))) void* moekit_emu_kernel_tls_anchor() {
  static thread_local char anchor;
  return &anchor;
}
