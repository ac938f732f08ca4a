# The emulation build (MOEKIT_EMULATION=ON), included by CMakeLists.txt.
#
# The native sources are compiled once; each GPU profile gets its own copy
# of the kernels (compiled by the host compiler for that profile's
# __CUDA_ARCH__, with compat.h force-included and every memory access
# instrumented, see engine/access_checks.cc) and of the engine and runtime
# (which report the profile's properties), linked into
# <build>/<profile>/moekit.node.
set(MOEKIT_EMU_PROFILES sm80 sm89 sm90a)
set(MOEKIT_EMU_ARCH_sm80 800)
set(MOEKIT_EMU_ARCH_sm89 890)
set(MOEKIT_EMU_ARCH_sm90a 900)
set(MOEKIT_EMU_CODE_sm80 "80-real")
set(MOEKIT_EMU_CODE_sm89 "89-real")
set(MOEKIT_EMU_CODE_sm90a "90a-real")

set(MOEKIT_EMU_DIR ${CMAKE_SOURCE_DIR}/cuda/emulation)
file(GLOB_RECURSE MOEKIT_KERNEL_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/cuda/*.cu)
file(GLOB MOEKIT_EMU_ENGINE_SOURCES CONFIGURE_DEPENDS ${MOEKIT_EMU_DIR}/profile.cc ${MOEKIT_EMU_DIR}/engine/*.cc ${MOEKIT_EMU_DIR}/runtime/*.cc)

list(REMOVE_ITEM MOEKIT_NATIVE_SOURCES
  ${CMAKE_SOURCE_DIR}/native/device/no_cuda.cc
  ${CMAKE_SOURCE_DIR}/native/common/build_info.cc)
add_library(moekit_native OBJECT ${MOEKIT_NATIVE_SOURCES})
target_include_directories(moekit_native SYSTEM PRIVATE ${CMAKE_JS_INC} ${NODE_ADDON_API_DIR} ${CUDAToolkit_INCLUDE_DIRS})
target_compile_definitions(moekit_native PRIVATE
  NAPI_VERSION=8 NODE_ADDON_API_CPP_EXCEPTIONS NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
  MOEKIT_WITH_CUDA MOEKIT_EMULATION)
target_compile_options(moekit_native PRIVATE ${MOEKIT_WARNINGS} -fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=)

foreach(profile ${MOEKIT_EMU_PROFILES})
  set(arch ${MOEKIT_EMU_ARCH_${profile}})

  # The emulated runtime and thread model, for this profile.
  add_library(moekit_emu_engine_${profile} STATIC ${MOEKIT_EMU_ENGINE_SOURCES})
  target_include_directories(moekit_emu_engine_${profile} SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  target_compile_definitions(moekit_emu_engine_${profile} PRIVATE MOEKIT_EMULATION MOEKIT_EMU_PROFILE_${profile})
  target_compile_options(moekit_emu_engine_${profile} PRIVATE ${MOEKIT_WARNINGS} -O2 -fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=)

  # The kernels: the same .cu files, as C++, in a module of their own whose
  # TLS block holds their static __shared__ variables and nothing else
  # (engine/kernel_module.h). Their calls into the engine resolve against
  # the addon, which loads them.
  add_library(moekit_kernels_${profile} SHARED ${MOEKIT_KERNEL_SOURCES} ${MOEKIT_EMU_DIR}/kernel_module_anchor.cc)
  set_target_properties(moekit_kernels_${profile} PROPERTIES
    OUTPUT_NAME moekit_kernels LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/${profile})
  target_link_options(moekit_kernels_${profile} PRIVATE -Wl,-z,now)
  set_source_files_properties(${MOEKIT_KERNEL_SOURCES} PROPERTIES LANGUAGE CXX)
  target_include_directories(moekit_kernels_${profile} SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
  target_compile_definitions(moekit_kernels_${profile} PRIVATE MOEKIT_EMULATION MOEKIT_EMU_ARCH=${arch})
  target_compile_options(moekit_kernels_${profile} PRIVATE
    -x c++ -include ${MOEKIT_EMU_DIR}/compat.h
    # nvcc's #pragma unroll; memcpy into the toolkit's host __half2 class.
    ${MOEKIT_WARNINGS} -Wno-unknown-pragmas -Wno-class-memaccess -O2
    # Line tables, so a report's "addr2line -Cfe ..." names the source line.
    -g1
    # Every load and store the kernels make calls the engine's access hooks
    # (the instrumentation GCC emits for ThreadSanitizer; the hooks are the
    # emulation's own, libtsan is not linked).
    -fsanitize=thread --param=tsan-instrument-func-entry-exit=0
    -fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=)

  add_library(moekit_emu_${profile} SHARED $<TARGET_OBJECTS:moekit_native> ${CMAKE_SOURCE_DIR}/native/common/build_info.cc ${CMAKE_JS_SRC})
  set_target_properties(moekit_emu_${profile} PROPERTIES
    OUTPUT_NAME moekit PREFIX "" SUFFIX ".node" CXX_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/${profile}
    BUILD_RPATH "\$ORIGIN")
  target_compile_definitions(moekit_emu_${profile} PRIVATE
    MOEKIT_CUDA_ARCHITECTURES="${MOEKIT_EMU_CODE_${profile}}"
    MOEKIT_CUDA_COMPILER_VERSION="emulated"
    MOEKIT_EMULATION_PROFILE="${profile}")
  target_compile_options(moekit_emu_${profile} PRIVATE ${MOEKIT_WARNINGS})
  target_link_options(moekit_emu_${profile} PRIVATE -Wl,-z,nodelete -Wl,-z,now)
  target_link_libraries(moekit_emu_${profile} PRIVATE
    ${CMAKE_JS_LIB}
    moekit_kernels_${profile}
    # Whole archive: the kernels call engine functions nothing in the addon references.
    -Wl,--whole-archive moekit_emu_engine_${profile} -Wl,--no-whole-archive
    moekit_emu_ptx Threads::Threads ${CMAKE_DL_LIBS})
endforeach()
