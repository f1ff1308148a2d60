# The erasure half of PrivacyService: destruction, depersonalization, export,
# destruction records and acts, retention. Domain classes only; no gRPC types.
add_library(herald_privacy_erasure STATIC
  ${CMAKE_CURRENT_LIST_DIR}/destruction_records.cc
  ${CMAKE_CURRENT_LIST_DIR}/erasure_settings.cc
  ${CMAKE_CURRENT_LIST_DIR}/retention_sweep.cc
  ${CMAKE_CURRENT_LIST_DIR}/subject_erasure.cc
  ${CMAKE_CURRENT_LIST_DIR}/subject_export.cc
)
target_compile_options(herald_privacy_erasure PRIVATE ${HERALD_WARNINGS})
target_link_libraries(herald_privacy_erasure PUBLIC herald_subscriptions herald_common
                      herald_message_ledger)
target_link_libraries(herald_privacy PUBLIC herald_privacy_erasure)
