# cmake -DGENERATOR=neft_fuzz_make_corpus -DOUT=DIR -DEXPECTED=tests/fuzz/corpus -P this file:
# fails unless the generator writes exactly the committed seed corpus, file for file and byte
# for byte (the corpus is never edited by hand; change make_corpus.cpp and rerun it).
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${GENERATOR} ${OUT} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${GENERATOR} ${OUT} failed (${status})")
endif()
file(GLOB_RECURSE written RELATIVE ${OUT} ${OUT}/*)
file(GLOB_RECURSE committed RELATIVE ${EXPECTED} ${EXPECTED}/*)
list(SORT written)
list(SORT committed)
if(NOT written STREQUAL committed)
  message(FATAL_ERROR "the generator writes [${written}] but ${EXPECTED} holds [${committed}]")
endif()
foreach(name ${written})
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}/${name} ${EXPECTED}/${name}
                  RESULT_VARIABLE differs)
  if(differs)
    message(FATAL_ERROR "${EXPECTED}/${name} is not what the generator writes (${OUT}/${name})")
  endif()
endforeach()
list(LENGTH written count)
message(STATUS "the ${count} seed files are the generator's")
