// rpcnet/thread_annotations.h — Clang thread-safety annotations, and a mutex they can name.
//
// Contract: under clang with -Wthread-safety (cmake/Warnings.cmake turns it on for clang builds:
// the fuzz preset) the compiler checks that a member marked RPCNET_GUARDED_BY(mutex_) is only
// touched with mutex_ held, that a function marked RPCNET_REQUIRES(mutex_) is only called so,
// and that one marked RPCNET_EXCLUDES(mutex_) is not. Under GCC the macros expand to nothing.
// Public because public classes hold such mutexes; the macros are prefixed so that they do not
// clash with a user's own (e.g. Abseil's GUARDED_BY).
//
// std::mutex in libstdc++ carries no annotations, so the analysis cannot see it being locked;
// guard members with rpcnet::Mutex and lock it with rpcnet::MutexLock instead. A condition
// variable waits on the Mutex itself (std::condition_variable_any: Mutex is BasicLockable).
//
// Example:
//   class Counter {
//    public:
//     void add() {
//       rpcnet::MutexLock lock(mutex_);
//       ++count_;
//     }
//
//    private:
//     rpcnet::Mutex mutex_;
//     int count_ RPCNET_GUARDED_BY(mutex_) = 0;
//   };
#pragma once

#include <mutex>

#if defined(__clang__)
#define RPCNET_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define RPCNET_THREAD_ANNOTATION(x)
#endif

#define RPCNET_CAPABILITY(name) RPCNET_THREAD_ANNOTATION(capability(name))
#define RPCNET_SCOPED_CAPABILITY RPCNET_THREAD_ANNOTATION(scoped_lockable)
#define RPCNET_GUARDED_BY(mutex) RPCNET_THREAD_ANNOTATION(guarded_by(mutex))
#define RPCNET_PT_GUARDED_BY(mutex) RPCNET_THREAD_ANNOTATION(pt_guarded_by(mutex))
#define RPCNET_REQUIRES(...) RPCNET_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define RPCNET_EXCLUDES(...) RPCNET_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define RPCNET_ACQUIRE(...) RPCNET_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RPCNET_RELEASE(...) RPCNET_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// For code the analysis cannot follow (a lock taken through a std:: template): say why at the use.
#define RPCNET_NO_THREAD_SAFETY_ANALYSIS RPCNET_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace rpcnet {

// std::mutex, visible to the analysis as a capability.
class RPCNET_CAPABILITY("mutex") Mutex {
 public:
  void lock() RPCNET_ACQUIRE() { mutex_.lock(); }
  void unlock() RPCNET_RELEASE() { mutex_.unlock(); }

 private:
  std::mutex mutex_;
};

// std::lock_guard for Mutex: held from construction to the end of the scope.
class RPCNET_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) RPCNET_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() RPCNET_RELEASE() { mutex_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mutex_;
};

}  // namespace rpcnet
