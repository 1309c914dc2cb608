# CUDA backend (-DLRKV_CUDA=ON): the lrkv_cuda library (src/kernels/cuda, src/backend/cuda), its
# tests (lrkv_cuda_tests: skip without a device) and benchmarks. Compiles without a GPU.
# Targets sm_90 machine code plus compute_80 PTX (any newer GPU JIT-compiles it); override with
# -DCMAKE_CUDA_ARCHITECTURES=...
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "90-real;80-virtual")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
# CMake 3.25 does not know nvcc 13's C++20 switch (the targets inherit CXX_STANDARD 20).
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)

file(GLOB_RECURSE LRKV_CUDA_SOURCES CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/src/kernels/cuda/*.cu ${CMAKE_SOURCE_DIR}/src/kernels/cuda/*.cpp
     ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cpp)
add_library(lrkv_cuda STATIC ${LRKV_CUDA_SOURCES})
target_link_libraries(lrkv_cuda PUBLIC lrkv_compress CUDA::cudart_static CUDA::cublas CUDA::cusolver)
target_compile_definitions(lrkv_cuda PUBLIC LRKV_HAVE_CUDA=1)
# The kernel profiler opens libcupti at run time; these are where it looks after the loader's path.
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/backend/cuda/cupti_tracer.cpp PROPERTIES COMPILE_DEFINITIONS
  "LRKV_CUDA_LIB_DIR=\"${CUDAToolkit_LIBRARY_DIR}\";LRKV_CUDA_ROOT=\"${CUDAToolkit_LIBRARY_ROOT}\"")
target_link_libraries(lrkv_cuda PRIVATE ${CMAKE_DL_LIBS})
# -lineinfo for profilers; LRKV_CUDA_VERBOSE=ON prints ptxas register/spill reports.
option(LRKV_CUDA_VERBOSE "Print ptxas resource usage of every kernel" OFF)
target_compile_options(lrkv_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo --expt-relaxed-constexpr
                       -Xcudafe=--diag_suppress=177>)
if(LRKV_CUDA_VERBOSE)
  target_compile_options(lrkv_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-v>)
endif()

if(LRKV_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  enable_testing()
  file(GLOB LRKV_CUDA_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cuda_*_test.cpp)
  add_executable(lrkv_cuda_tests ${LRKV_CUDA_TEST_SOURCES} ${CMAKE_SOURCE_DIR}/tests/test_util.cpp
                                 ${CMAKE_SOURCE_DIR}/tests/test_logits_util.cpp)
  target_include_directories(lrkv_cuda_tests PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(lrkv_cuda_tests PRIVATE lrkv GTest::gtest GTest::gtest_main)
  target_compile_definitions(lrkv_cuda_tests PRIVATE LRKV_SHARED_DIR="${CMAKE_SOURCE_DIR}/../shared"
                                                     LRKV_CLI_PATH="")
  gtest_discover_tests(lrkv_cuda_tests DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 600)
endif()

if(LRKV_BENCH)
  file(GLOB LRKV_CUDA_BENCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bench/cuda_*.cu
       ${CMAKE_SOURCE_DIR}/bench/cuda_*.cpp)
  foreach(src ${LRKV_CUDA_BENCH_SOURCES})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE lrkv)
  endforeach()
endif()
