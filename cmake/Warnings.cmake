# One INTERFACE target carries the project's warning and sanitizer flags; every target links it.
add_library(ferry_options INTERFACE)
target_compile_options(ferry_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Wno-missing-field-initializers
  -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 at -O2 reports false "maybe uninitialized" warnings inside std::variant moves
  # (json::Value); clang and the sanitizer builds still check for the real thing.
  target_compile_options(ferry_options INTERFACE -Wno-maybe-uninitialized)
endif()
if(FERRY_WERROR)
  target_compile_options(ferry_options INTERFACE -Werror)
endif()
if(FERRY_SANITIZE)
  string(REPLACE "," ";" _sanitizers "${FERRY_SANITIZE}")
  foreach(_s IN LISTS _sanitizers)
    target_compile_options(ferry_options INTERFACE -fsanitize=${_s})
    target_link_options(ferry_options INTERFACE -fsanitize=${_s})
  endforeach()
  target_compile_options(ferry_options INTERFACE -fno-omit-frame-pointer -fno-sanitize-recover=all)
endif()
if(FERRY_COVERAGE)
  target_compile_options(ferry_options INTERFACE --coverage)
  target_link_options(ferry_options INTERFACE --coverage)
endif()
