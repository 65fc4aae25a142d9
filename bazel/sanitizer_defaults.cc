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
// ignore_noninstrumented_modules: Debian builds Abseil, gRPC, RocksDB and
// libstdc++ without TSan, so TSan sees none of the atomics that order their
// work, only the libc calls they make (memcpy, memcmp, epoll, ...), which it
// intercepts in any library: on their own data, ordered by those unseen
// atomics, every such call looks like a race (hundreds per test). This
// ignores the libc calls made from those libraries. The price: a race of
// ours whose only witness is a memcpy inside one of them (a std::string
// copied out of line by libstdc++, say) goes unseen. absl::Mutex itself is
// made visible by tsan_absl_sync.cc.
extern "C" const char* __tsan_default_options() {
  return "halt_on_error=1:second_deadlock_stack=1:"
         "ignore_noninstrumented_modules=1";
}

// One suppression per line, each with its reason.
extern "C" const char* __tsan_default_suppressions() {
  return
      // gRPC's C++ API is header code, compiled (and instrumented) into our
      // objects, but the completion queue that orders its callbacks between
      // threads is in libgrpc: a race whose innermost frame is gRPC's own
      // call bookkeeping is ordered there.
      "race_top:grpc::internal::\n"
      // Likewise the ByteBuffer of a client call's send op: filled on the
      // calling thread, cleared on gRPC's callback thread once libgrpc has
      // finished the send (seen in the gateway's gRPC backend).
      "race_top:grpc::ByteBuffer::\n"
      // And the response message of a client call, which gRPC parses on
      // its callback thread after libgrpc has ordered the receive.
      "race:grpc::internal::CallOpRecvMessage\n"
      // The same for the server side of gRPC's callback API: its call
      // objects live in gRPC's call arenas, which gRPC reuses and orders
      // with its own atomics. (Not CallbackWithStatusTag: that one runs our
      // client callbacks.)
      "race:grpc::internal::CallbackWithSuccessTag\n"
      "race:grpc::internal::ServerCallbackCall\n"
      // gRPC's executor and resolver threads are joined by gRPC's own
      // asynchronous shutdown, which can still be under way at exit.
      "thread:grpc_core::Thread::Thread\n"
      // This test turns compare-and-set's lock off on purpose
      // (non_atomic_writes_for_test) to show that the checks notice.
      "race:RocksDbStoreTest_NonAtomicCanaryLosesUpdates_Test\n";
}
#endif
