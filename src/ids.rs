//! Random identifiers for containers and interfaces.

/// 12 hex digits from the kernel's random pool, like docker's short ids.
pub fn short_id() -> String {
    hex(6)
}

pub fn hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < bytes {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            // getrandom cannot fail once the pool is initialised; fall back on time and pid.
            Err(_) => {
                let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
                let seed = (t.tv_nsec as u64) ^ ((rustix::process::getpid().as_raw_nonzero().get() as u64) << 32);
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = (seed >> ((i % 8) * 8)) as u8;
                }
                filled = bytes;
            }
        }
    }
    let digits = b"0123456789abcdef";
    let text: Vec<u8> = buf.iter().flat_map(|b| [digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]).collect();
    String::from_utf8(text).unwrap_or_default()
}

/// Sorts names in place. An insertion sort: the lists are short (containers, networks),
/// and the standard library's stable sort costs 3 KB of binary for them.
pub fn sort_names(names: &mut [String]) {
    for i in 1..names.len() {
        let mut j = i;
        while j > 0 && names[j - 1] > names[j] {
            names.swap(j - 1, j);
            j -= 1;
        }
    }
}
