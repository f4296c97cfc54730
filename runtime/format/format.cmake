# The .kiln file format, part of kiln_runtime (included from runtime/CMakeLists.txt so that the
# generated header is a source of the target in the same folder).
# flatc (found for every build in third_party/) runs on the build host, the cross build included;
# the generated header needs only FlatBuffers' headers (kiln::dep::flatbuffers), no library.
set(KILN_FORMAT_GENERATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/format_generated)
set(KILN_FORMAT_SCHEMA ${CMAKE_CURRENT_SOURCE_DIR}/format/kiln.fbs)
add_custom_command(
  OUTPUT ${KILN_FORMAT_GENERATED_DIR}/kiln_generated.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${KILN_FORMAT_GENERATED_DIR}
  COMMAND ${KILN_FLATC} --cpp --scoped-enums --gen-object-api -o ${KILN_FORMAT_GENERATED_DIR} ${KILN_FORMAT_SCHEMA}
  DEPENDS ${KILN_FORMAT_SCHEMA}
  COMMENT "flatc: generating kiln_generated.h from kiln.fbs"
  VERBATIM)
add_custom_target(kiln_format_generated DEPENDS ${KILN_FORMAT_GENERATED_DIR}/kiln_generated.h)

target_sources(kiln_runtime PRIVATE
  ${KILN_FORMAT_GENERATED_DIR}/kiln_generated.h
  format/sha256.cc
  format/checksum.cc
  format/kiln_writer.cc
  format/kiln_container.cc
  format/kiln_graph_reader.cc
  format/kiln_loader.cc
  format/kiln_inspect.cc)
target_include_directories(kiln_runtime PRIVATE ${KILN_FORMAT_GENERATED_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/format)
target_link_libraries(kiln_runtime PRIVATE $<BUILD_INTERFACE:kiln::dep::flatbuffers>)
add_dependencies(kiln_runtime kiln_format_generated)

# For tests that craft malformed files with the generated API (not installed).
add_library(kiln_format_schema INTERFACE)
target_include_directories(kiln_format_schema INTERFACE ${KILN_FORMAT_GENERATED_DIR})
target_link_libraries(kiln_format_schema INTERFACE kiln::dep::flatbuffers)
add_dependencies(kiln_format_schema kiln_format_generated)

# Fuzz builds: instrument the format's sources for libFuzzer's coverage feedback (the parser is what
# kiln_fuzz_kiln_load explores). With the sanitizers on, their runtime supplies the coverage hooks
# to the other executables linking kiln_runtime.
if(KILN_FUZZ AND KILN_SANITIZE)
  set_source_files_properties(format/kiln_container.cc format/kiln_graph_reader.cc format/kiln_loader.cc
    format/checksum.cc PROPERTIES COMPILE_OPTIONS -fsanitize=fuzzer-no-link)
endif()
