// The translation unit that owns the test suite's precompiled header (tests/CMakeLists.txt,
// rpcnet_test_pch); the test binaries reuse the header, not this file's object.
