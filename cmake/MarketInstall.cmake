# Installs libmarket, harbor_client and the testing fakes with their public headers and an
# exported CMake package, so that embedders write:
#   find_package(market CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE market::core market::harbor_client)
# and, for the embedder's unit tests, market::testing (the fakes of libmarket's interfaces).
include(CMakePackageConfigHelpers)

set(MARKET_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/market")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/libmarket/include/market"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT market_development)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/harbor_client/include/market"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT market_development)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/testing/include/market"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" COMPONENT market_development)

# A sanitized build's static libraries need the sanitizer runtimes wherever they are linked:
# the installed targets say so, so an embedder's link of such a build just works.
if(MARKET_SANITIZE)
  foreach(target market_core market_harbor_client market_testing)
    target_link_options(${target} INTERFACE
      "$<INSTALL_INTERFACE:-fsanitize=address,undefined;-fno-sanitize=vptr>")
  endforeach()
endif()

install(TARGETS market_core market_harbor_client market_testing EXPORT marketTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT market_development
        LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT market_development
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT marketTargets NAMESPACE market:: DESTINATION "${MARKET_INSTALL_CMAKEDIR}"
        COMPONENT market_development)

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/marketConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/marketConfig.cmake" INSTALL_DESTINATION "${MARKET_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/marketConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/marketConfig.cmake"
              "${PROJECT_BINARY_DIR}/marketConfigVersion.cmake"
              "${PROJECT_SOURCE_DIR}/cmake/FindSOCI.cmake"
        DESTINATION "${MARKET_INSTALL_CMAKEDIR}" COMPONENT market_development)

install(TARGETS market_server RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT market_server)
