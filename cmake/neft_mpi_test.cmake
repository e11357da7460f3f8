# neft_add_mpi_test: a ctest entry that runs a program under mpirun, for the multi-rank tests
# (tests/) and the benchmarks' multi-rank smoke tests (benchmarks/).
include_guard(GLOBAL)

# Open MPI refuses to run as root and to place more ranks than cores unless told; other MPIs
# get NEFT_MPIEXEC_FLAGS as the user sets it.
execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE NEFT_MPIEXEC_VERSION
                ERROR_QUIET)
set(NEFT_MPIEXEC_DEFAULT_FLAGS "")
if(NEFT_MPIEXEC_VERSION MATCHES "Open MPI|OpenRTE")
  set(NEFT_MPIEXEC_DEFAULT_FLAGS --allow-run-as-root --oversubscribe)
endif()
set(NEFT_MPIEXEC_FLAGS "${NEFT_MPIEXEC_DEFAULT_FLAGS}" CACHE STRING
    "mpiexec flags for the multi-rank tests (after the rank count)")

# neft_add_mpi_test(<name> <ranks> COMMAND <program> [args...] [TIMEOUT s] [ENVIRONMENT ...])
function(neft_add_mpi_test name ranks)
  cmake_parse_arguments(ARG "" "TIMEOUT" "COMMAND;ENVIRONMENT" ${ARGN})
  list(POP_FRONT ARG_COMMAND program)
  add_test(NAME ${name}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} ${NEFT_MPIEXEC_FLAGS}
                   ${MPIEXEC_PREFLAGS} ${program} ${MPIEXEC_POSTFLAGS} ${ARG_COMMAND})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  # Passive OpenMP waiting and one thread per rank: ranks share the cores.
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${ARG_TIMEOUT} PROCESSORS ${ranks}
    ENVIRONMENT "OMP_WAIT_POLICY=passive;OMP_NUM_THREADS=1;${ARG_ENVIRONMENT}")
endfunction()
