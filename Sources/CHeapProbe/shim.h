// glibc's figure of the heap in use (small chunks and mmapped ones), for tests that compare
// the memory a queue counts with what the allocator really handed out. mallinfo2 returns a
// struct, which Swift cannot call through dlsym; a static inline wrapper is imported as is.
// mallinfo2 is glibc 2.33 or later (Debian 12 has 2.36).
#include <malloc.h>
#include <stddef.h>

static inline size_t gateway_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
