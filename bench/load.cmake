# .kiln load time (issue 6): kiln-bench-load writes a ~10 MB model and measures load_kiln().
add_executable(kiln-bench-load bench_load.cc)
target_link_libraries(kiln-bench-load PRIVATE kiln_runtime kiln::dep::benchmark kiln::dep::benchmark_main kiln_flags)
