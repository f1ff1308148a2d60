# One way to declare a library and a test, so warnings, include paths and test labels are
# the same everywhere.
#
#   herald_library(<name> SOURCES <files...> [DEPS <public deps...>]
#                  [PRIVATE_DEPS <deps only its own sources use...>]
#                  [DEFINITIONS <NAME=value...>] [DEPENDS <targets built first...>])
#     A static library of our own code: HERALD_WARNINGS, the tree root on the include path.
#     A dependency goes in DEPS only when one of the library's own headers includes it;
#     heavy dependencies a library's users never include go in PRIVATE_DEPS, so they stay off
#     every other target's compile line.
#
#   herald_executable(<name> SOURCES <files...> [DEPS <deps...>] [IN_BUILD_ROOT])
#     A program: HERALD_WARNINGS, the tree root on the include path. IN_BUILD_ROOT puts the
#     binary at the top of the build directory (heraldd, heraldctl: scripts run them there).
#
#   herald_test(<name> LABEL unit|db|integration SOURCES <files...> [DEPS <deps...>]
#               [DEFINITIONS <NAME=value...>] [DEPENDS <targets run by the test...>])
#     A GoogleTest binary whose tests ctest discovers under the label. unit: no I/O; db: a
#     PostgreSQL from HERALD_TEST_DATABASE_URL; integration: a running heraldd.
#     Relative SOURCES resolve against the calling directory, so tests/ can list
#     `services/web/x_test.cc` and an adapter its own `x_test.cc`.
#     The short form herald_test(<name> <label> <files...>) links the subscription and web
#     libraries, as tests/ has always written it.
#     Every test binary also joins the target tests_<label> (defined by herald_test_targets()
#     once all directories are read), so a build can ask for one label's binaries only: the
#     sanitizer tree builds tests_unit and tests_db, never the integration binaries it would
#     not run.
include_guard(GLOBAL)
include(GoogleTest)

function(herald_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SOURCES;DEPS;PRIVATE_DEPS;DEFINITIONS;DEPENDS")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "herald_library(${name}): SOURCES is required")
  endif()
  add_library(${name} STATIC ${arg_SOURCES})
  target_compile_options(${name} PRIVATE ${HERALD_WARNINGS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${arg_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
  if(arg_DEFINITIONS)
    target_compile_definitions(${name} PRIVATE ${arg_DEFINITIONS})
  endif()
  if(arg_DEPENDS)
    add_dependencies(${name} ${arg_DEPENDS})
  endif()
endfunction()

function(herald_executable name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "IN_BUILD_ROOT" "" "SOURCES;DEPS")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "herald_executable(${name}): SOURCES is required")
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_compile_options(${name} PRIVATE ${HERALD_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${arg_DEPS})
  if(arg_IN_BUILD_ROOT)
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
  endif()
endfunction()

# A test's own sources (and the test-only libraries, tests/CMakeLists.txt) need correctness,
# not speed, and line tables, not variables: -O1 -g1 instead of RelWithDebInfo's -O2 -g
# halves their compile time (json_api_test.cc: 41 s of CPU down to 22 s), and they are most
# of the tree's. The code under test, the stand-ins the benchmarks share and the benchmarks
# keep their flags.
set(HERALD_TEST_CODE_OPTIONS "$<$<CONFIG:RelWithDebInfo>:-O1;-g1>")

function(herald_test name)
  if(ARGC GREATER 1 AND NOT "${ARGV1}" STREQUAL "LABEL")
    # The short form: herald_test(name label sources...).
    list(SUBLIST ARGV 2 -1 sources)
    herald_test(${name} LABEL ${ARGV1} SOURCES ${sources}
                DEPS herald_subscriptions herald_web)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "LABEL" "SOURCES;DEPS;DEFINITIONS;DEPENDS")
  if(NOT arg_LABEL MATCHES "^(unit|db|integration)$")
    message(FATAL_ERROR "herald_test(${name}): LABEL must be unit, db or integration")
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_compile_options(${name} PRIVATE ${HERALD_WARNINGS} ${HERALD_TEST_CODE_OPTIONS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${arg_DEPS} GTest::gtest GTest::gmock
                        GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE HERALD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                             ${arg_DEFINITIONS})
  if(arg_DEPENDS)
    add_dependencies(${name} ${arg_DEPENDS})
  endif()
  # A unit test case takes milliseconds, but a process of a test binary (gRPC, protobuf and
  # the PostgreSQL client to load; under the sanitizers their shadow memory too) a quarter of
  # a second or more: one process per case made the unit label cost minutes. Unit binaries run
  # whole, one ctest test each, and so do db binaries under the sanitizers, where a process
  # start costs most. Integration cases stay one ctest test each: they run long and -j2
  # spreads them. A failing binary's output names the failing cases.
  if(arg_LABEL STREQUAL "unit" OR (arg_LABEL STREQUAL "db" AND HERALD_SANITIZE))
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS ${arg_LABEL} TIMEOUT 1500)
  else()
    gtest_discover_tests(${name} PROPERTIES LABELS ${arg_LABEL} DISCOVERY_TIMEOUT 60
                         DISCOVERY_MODE PRE_TEST)
  endif()
  set_property(GLOBAL APPEND PROPERTY HERALD_TESTS_${arg_LABEL} ${name})
endfunction()

# tests_unit, tests_db, tests_integration: each label's test binaries. Called once, after the
# last directory that declares tests. ctest skips the tests of a binary that was not built
# without a word when it filters by label, so these lists come from herald_test itself and
# never from a hand-kept list.
function(herald_test_targets)
  foreach(label unit db integration)
    get_property(binaries GLOBAL PROPERTY HERALD_TESTS_${label})
    add_custom_target(tests_${label})
    if(binaries)
      add_dependencies(tests_${label} ${binaries})
    endif()
  endforeach()
endfunction()

#   herald_embed_files(<target> NAMESPACE <c++ namespace> HEADER <include path>
#                      [BASE_DIR <dir>] FILES <files...>)
#     Compiles the files' bytes into <target>, so the binary needs no file at run time and
#     works from any directory. Generates <include path> (relative to the build tree's
#     `generated/` folder, on <target>'s include path) declaring
#       std::optional<std::string_view> <namespace>::Find(std::string_view name);
#     where name is the file's path relative to BASE_DIR (default: the calling directory).
#     Changing a file regenerates the bytes at the next build.
set(HERALD_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/EmbedFiles.cmake)

function(herald_embed_files target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "NAMESPACE;HEADER;BASE_DIR" "FILES")
  if(NOT arg_NAMESPACE OR NOT arg_HEADER OR NOT arg_FILES)
    message(FATAL_ERROR "herald_embed_files(${target}): NAMESPACE, HEADER and FILES are required")
  endif()
  if(NOT arg_BASE_DIR)
    set(arg_BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  set(generated ${PROJECT_BINARY_DIR}/generated)
  set(header ${generated}/${arg_HEADER})
  string(REGEX REPLACE "\\.h$" ".cc" source ${header})
  set(inputs)
  set(names)
  foreach(file IN LISTS arg_FILES)
    get_filename_component(path ${file} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    file(RELATIVE_PATH name ${arg_BASE_DIR} ${path})
    list(APPEND inputs ${path})
    list(APPEND names ${name})
  endforeach()
  add_custom_command(
    OUTPUT ${header} ${source}
    COMMAND ${CMAKE_COMMAND} "-DNAMESPACE=${arg_NAMESPACE}" "-DHEADER=${header}"
            "-DINCLUDE=${arg_HEADER}" "-DSOURCE=${source}" "-DINPUTS=${inputs}"
            "-DNAMES=${names}" -P ${HERALD_EMBED_SCRIPT}
    DEPENDS ${inputs} ${HERALD_EMBED_SCRIPT}
    COMMENT "Embedding ${arg_HEADER}"
    VERBATIM)
  target_sources(${target} PRIVATE ${header} ${source})
  target_include_directories(${target} PRIVATE ${generated})
endfunction()
