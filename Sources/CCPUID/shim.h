// CCPUID: the x86 CPUID and XGETBV instructions as inline functions (no library to link),
// for reading the CPU's own feature flags and what the OS saves of the vector registers.
// Only `TensorCore` imports this. On other architectures both report nothing.
#ifndef USO_CCPUID_SHIM_H
#define USO_CCPUID_SHIM_H

#include <stdint.h>

/// Whether this build can ask the CPU (x86-64 only).
static inline int uso_cpuid_available(void) {
#if defined(__x86_64__)
    return 1;
#else
    return 0;
#endif
}

/// CPUID leaf `leaf`, sub-leaf `subleaf`: out[0..3] = EAX, EBX, ECX, EDX (zeros elsewhere).
static inline void uso_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
#if defined(__x86_64__)
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(subleaf));
    out[0] = a; out[1] = b; out[2] = c; out[3] = d;
#else
    out[0] = out[1] = out[2] = out[3] = 0;
    (void)leaf; (void)subleaf;
#endif
}

/// XCR0 (the register states the OS saves), read with XGETBV; call only when CPUID says OSXSAVE.
static inline uint64_t uso_xgetbv0(void) {
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#else
    return 0;
#endif
}

#endif
