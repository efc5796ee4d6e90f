include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(layers GLOBAL PROPERTY PEERLINK_LAYERS)
add_library(peerlink INTERFACE)
add_library(peerlink::peerlink ALIAS peerlink)
target_link_libraries(peerlink INTERFACE ${layers})

install(TARGETS ${layers} peerlink EXPORT peerlinkTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/peerlink DESTINATION include)
install(EXPORT peerlinkTargets NAMESPACE peerlink:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/peerlink)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/peerlinkConfig.cmake.in
  ${PROJECT_BINARY_DIR}/peerlinkConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/peerlink)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/peerlinkConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/peerlinkConfig.cmake ${PROJECT_BINARY_DIR}/peerlinkConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/peerlink)
