# The .kiln file format: round trip and zero-copy mapping, corruption, hashes, inspect. Label
# runtime: native, aarch64 (qemu) and sanitize lanes.
kiln_add_gtest(kiln_test_format LABELS runtime
  SOURCES format/kiln_test_util.cc format/test_kiln_roundtrip.cc format/test_kiln_corruption.cc
          format/test_kiln_hashes.cc format/test_kiln_inspect.cc
  LIBS kiln_runtime kiln_format_schema)
kiln_add_fuzz(kiln_fuzz_kiln_load fuzz/fuzz_kiln_load.cc kiln_runtime)
