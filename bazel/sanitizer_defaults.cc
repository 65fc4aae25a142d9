// Runtime options and suppressions for the sanitizer configurations
// (.bazelrc: --config=asan, --config=tsan), linked into every test through
// :gtest_main, so that a plain `bazel test --config=...` needs no
// environment. ASAN_OPTIONS, UBSAN_OPTIONS and TSAN_OPTIONS still override
// the options.

#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() {
  return "detect_leaks=1:detect_stack_use_after_return=1:"
         "check_initialization_order=1:strict_init_order=1";
}

extern "C" const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1";
}
#endif

#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() {
  return "halt_on_error=1:second_deadlock_stack=1";
}

// One suppression per line; each says why it is not a bug of ours.
extern "C" const char* __tsan_default_suppressions() {
  return "";
}
#endif
