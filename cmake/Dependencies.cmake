# Every dependency is a Debian 12 package; nothing is downloaded at build time.
find_package(PkgConfig REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
if(FERRY_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
