//! The launcher's global allocator (part of the raw module: a global allocator is
//! `unsafe` by nature).
#![allow(unsafe_code)]

/// The launcher's heap: small blocks (up to 2 KiB, by power-of-two class) are kept on a
/// free list per class when freed and handed out again, and only a miss goes to the C
/// library's allocator. musl's allocator returns a group of blocks to the kernel as soon
/// as it is empty, so a start-up that allocates and frees a few hundred small strings
/// made about 40 mmap/munmap pairs (and their page faults). Larger blocks go straight
/// through. A spin lock guards the lists: husk's few threads rarely allocate at once.
pub struct Heap;

const CLASSES: usize = 8; // 16, 32, ..., 2048 bytes
static FREE: [core::sync::atomic::AtomicUsize; CLASSES] = [const { core::sync::atomic::AtomicUsize::new(0) }; CLASSES];
static LOCK: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

fn class(layout: core::alloc::Layout) -> Option<usize> {
    let size = layout.size().max(16);
    (size <= 2048 && layout.align() <= 16).then(|| (usize::BITS - (size - 1).leading_zeros()) as usize - 4)
}

fn with_lists<T>(f: impl FnOnce() -> T) -> T {
    use core::sync::atomic::Ordering;
    while LOCK.swap(true, Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let out = f();
    LOCK.store(false, Ordering::Release);
    out
}

unsafe extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn calloc(count: usize, size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
    fn aligned_alloc(align: usize, size: usize) -> *mut u8;
}

// SAFETY: every block handed out is either fresh from the C allocator (malloc returns
// 16-byte-aligned memory on 64-bit musl, and classes ask for at most that alignment) or
// a block of the same class freed before, which nobody else holds any more. A free
// block's first word links the list; the lists change only under LOCK.
unsafe impl core::alloc::GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        use core::sync::atomic::Ordering;
        match class(layout) {
            Some(c) => {
                let reused = with_lists(|| {
                    let head = FREE[c].load(Ordering::Relaxed);
                    if head != 0 {
                        // SAFETY: head is a free block of this class; its first word is the next one.
                        FREE[c].store(unsafe { *(head as *const usize) }, Ordering::Relaxed);
                    }
                    head
                });
                if reused != 0 {
                    reused as *mut u8
                } else {
                    // SAFETY: plain malloc of the class's size.
                    unsafe { malloc(16 << c) }
                }
            }
            // SAFETY: aligned_alloc with the layout's own (power-of-two) alignment.
            None if layout.align() > 16 => unsafe { aligned_alloc(layout.align(), layout.size()) },
            // SAFETY: plain malloc.
            None => unsafe { malloc(layout.size()) },
        }
    }

    /// Large zeroed blocks through calloc, which leaves fresh pages untouched (a zeroed
    /// buffer of a megabyte costs no resident memory until used).
    unsafe fn alloc_zeroed(&self, layout: core::alloc::Layout) -> *mut u8 {
        if class(layout).is_none() && layout.align() <= 16 {
            // SAFETY: plain calloc.
            return unsafe { calloc(1, layout.size()) };
        }
        // SAFETY: as alloc; the block is then zeroed whole.
        let ptr = unsafe { self.alloc(layout) };
        if !ptr.is_null() {
            // SAFETY: ptr holds at least layout.size() bytes.
            unsafe { core::ptr::write_bytes(ptr, 0, layout.size()) };
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        use core::sync::atomic::Ordering;
        match class(layout) {
            Some(c) => with_lists(|| {
                // SAFETY: the block is ours again, at least 16 bytes: its first word links.
                unsafe { *(ptr as *mut usize) = FREE[c].load(Ordering::Relaxed) };
                FREE[c].store(ptr as usize, Ordering::Relaxed);
            }),
            // SAFETY: a block from malloc or aligned_alloc.
            None => unsafe { free(ptr) },
        }
    }
}
