// The program that owns the test suite's precompiled header (tests/CMakeLists.txt,
// rpcnet_test_pch): the test binaries reuse the header it builds, not this program.
int main() { return 0; }
