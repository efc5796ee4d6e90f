# Helpers shared by every layer's CMakeLists.txt.

# peerlink_layer(NAME SOURCES ... DEPS ...): one library per layer, alias peerlink::NAME.
function(peerlink_layer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(peerlink_${name} ${ARG_SOURCES})
  add_library(peerlink::${name} ALIAS peerlink_${name})
  target_include_directories(peerlink_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include/peerlink>
    $<INSTALL_INTERFACE:include>)
  target_link_libraries(peerlink_${name} PUBLIC ${ARG_DEPS})
  set_target_properties(peerlink_${name} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME peerlink_${name})
  set_property(GLOBAL APPEND PROPERTY PEERLINK_LAYERS peerlink_${name})
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/ DESTINATION include/peerlink/src/${name}
          FILES_MATCHING PATTERN "*.h" PATTERN "*_test*" EXCLUDE PATTERN "*_fuzz*" EXCLUDE)
endfunction()

# peerlink_test(NAME SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary registered with CTest.
function(peerlink_test name)
  if(NOT PEERLINK_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
    PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS};unit")
endfunction()

# peerlink_fuzzer(NAME SOURCE DEPS ...): a libFuzzer binary fuzz_NAME with corpus fuzz/corpus/NAME.
function(peerlink_fuzzer name source)
  if(NOT PEERLINK_BUILD_FUZZ)
    return()
  endif()
  add_executable(fuzz_${name} ${source})
  target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  set_property(GLOBAL APPEND PROPERTY PEERLINK_FUZZERS ${name})
endfunction()
