//! The binary's memory allocator, here so that benchmarks can allocate as the binary does (a
//! library never sets the global allocator itself: a program linking it may have its own).

/// mimalloc, the allocator `imcpm` runs with (src/main.rs), through its plain entry points
/// where the alignment asked for is one every block has (a word: blocks come in multiples of
/// words from word-aligned pages), and its aligned ones otherwise. `mimalloc::MiMalloc` takes
/// the aligned entry points for every block, which look for a block of the right alignment
/// first (most of an allocation's cost here).
pub struct Mi;

/// The alignment every mimalloc block has.
const WORD: usize = size_of::<usize>();

// SAFETY: each function hands the layout to the mimalloc entry point that honours it: the plain
// ones return word-aligned blocks of at least the size asked for, the aligned ones blocks of
// any alignment; every block is freed by `mi_free`, which takes blocks from either.
unsafe impl std::alloc::GlobalAlloc for Mi {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if l.align() <= WORD {
                libmimalloc_sys::mi_malloc(l.size()).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(l.size(), l.align()).cast()
            }
        }
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if l.align() <= WORD {
                libmimalloc_sys::mi_zalloc(l.size()).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(l.size(), l.align()).cast()
            }
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, _l: std::alloc::Layout) {
        // SAFETY: see the impl.
        unsafe { libmimalloc_sys::mi_free(p.cast()) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if l.align() <= WORD {
                libmimalloc_sys::mi_realloc(p.cast(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(p.cast(), new_size, l.align()).cast()
            }
        }
    }
}
