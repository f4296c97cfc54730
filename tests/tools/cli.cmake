# Tests of the kiln CLI commands quantize/eval/analyze/bench. Owner: CLI.
# Shell scripts over the built binary and the committed test models (label host).
foreach(t errors roundtrip analyze)
  add_test(NAME kiln_cli_${t}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/cli_${t}_test.sh $<TARGET_FILE:kiln> ${CMAKE_CURRENT_SOURCE_DIR}/models)
  set_tests_properties(kiln_cli_${t} PROPERTIES LABELS host)
endforeach()
# Accuracy on real data (Fashion-MNIST): native builds only; under the sanitizers the three tests
# above cover the same code paths and this one would only be slow.
if(NOT KILN_SANITIZE)
  foreach(t fmnist recon)
    add_test(NAME kiln_cli_${t}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tools/cli_${t}_test.sh $<TARGET_FILE:kiln> ${PROJECT_SOURCE_DIR})
    set_tests_properties(kiln_cli_${t} PROPERTIES LABELS host)
  endforeach()
endif()
