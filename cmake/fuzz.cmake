# -DLRKV_FUZZ=ON (clang): only the libFuzzer harnesses, in a build directory of their own
# (scripts/fuzz.sh uses build-fuzz). lrkv_fuzzlib is the part of src/ the harnesses reach — the
# file readers, tokenizers, rank plans, calibration and task readers — built with ASan + UBSan and
# libFuzzer's coverage instrumentation; the engine, kernels and compressor are left out.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "LRKV_FUZZ needs clang (libFuzzer): configure with "
                      "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
endif()
set(LRKV_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                    -fno-omit-frame-pointer -g)
file(GLOB LRKV_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/core/*.cpp
     ${CMAKE_SOURCE_DIR}/src/io/*.cpp)
foreach(f bpe_pretokenizer bpe_tokenizer file_kind llama_config llama_weights methods model rank_plan
          sentencepiece_tokenizer tokenizer utf8)
  list(APPEND LRKV_FUZZ_SOURCES ${CMAKE_SOURCE_DIR}/src/model/${f}.cpp)
endforeach()
foreach(f kernels/ggml_quants cache/kv_cache_spec compress/calibration_io compress/calibration_check
          eval/tasks/compressed_text
          eval/tasks/task_readers eval/tasks/task_layouts serve/api_request serve/api_error)
  list(APPEND LRKV_FUZZ_SOURCES ${CMAKE_SOURCE_DIR}/src/${f}.cpp)
endforeach()
add_library(lrkv_fuzzlib STATIC ${LRKV_FUZZ_SOURCES})
target_include_directories(lrkv_fuzzlib PUBLIC ${CMAKE_SOURCE_DIR}/src ${LAPACKE_INCLUDE})
target_compile_options(lrkv_fuzzlib PUBLIC ${LRKV_ARCH_FLAGS} ${LRKV_FUZZ_FLAGS})
target_link_options(lrkv_fuzzlib PUBLIC -fsanitize=address,undefined)
target_link_libraries(lrkv_fuzzlib PUBLIC nlohmann_json::nlohmann_json fmt::fmt Threads::Threads
                                          BZip2::BZip2)
add_subdirectory(${CMAKE_SOURCE_DIR}/fuzz ${CMAKE_BINARY_DIR}/fuzz)

# The unit tests of the same input-facing code, built with the same sanitizers (scripts/test.sh runs
# them in CI before fuzzing): UBSan/ASan reports abort the test. They link lrkv_fuzzlib, not the
# engine; the whole suite under sanitizers is the -DLRKV_SANITIZE=ON build (LRKV_SANITIZE=1).
find_package(GTest REQUIRED)
include(GoogleTest)
set(LRKV_INPUT_TESTS bpe_pretokenizer bpe_tokenizer calibration_io dtype fuzz_findings gguf_reader
                     hf_config hf_tokenizer logits_file quants rank_plan safetensors_corrupt
                     sentencepiece)
set(LRKV_INPUT_TEST_SOURCES ${CMAKE_SOURCE_DIR}/tests/test_util.cpp
                            ${CMAKE_SOURCE_DIR}/src/model/synth.cpp
                            ${CMAKE_SOURCE_DIR}/src/eval/logits_file.cpp
                            ${CMAKE_SOURCE_DIR}/src/kernels/log_softmax.cpp)
foreach(t ${LRKV_INPUT_TESTS})
  list(APPEND LRKV_INPUT_TEST_SOURCES ${CMAKE_SOURCE_DIR}/tests/${t}_test.cpp)
endforeach()
add_executable(lrkv_input_tests ${LRKV_INPUT_TEST_SOURCES})
target_include_directories(lrkv_input_tests PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(lrkv_input_tests PRIVATE lrkv_fuzzlib GTest::gtest GTest::gtest_main)
target_compile_definitions(lrkv_input_tests PRIVATE LRKV_SHARED_DIR="${CMAKE_SOURCE_DIR}/../shared"
                                                    LRKV_CLI_PATH="lrkv-not-built-here")
