//! Random identifiers for containers and interfaces.

/// 12 hex digits from the kernel's random pool, like docker's short ids.
pub fn short_id() -> String {
    hex(6)
}

/// `bytes` (at most 16) random bytes as hex digits. getrandom(2) fails only before the
/// kernel's pool is initialised (early boot, as PID 1 of a VM): then the time and pid,
/// stirred, give names that are merely unlikely to repeat, which is all a name needs.
pub fn hex(bytes: usize) -> String {
    let mut buf = [0u8; 16];
    let buf = &mut buf[..bytes.min(16)];
    let len = buf.len();
    if !matches!(rustix::rand::getrandom(&mut *buf, rustix::rand::GetRandomFlags::NONBLOCK), Ok(n) if n == len) {
        let nanos = std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| d.subsec_nanos()).unwrap_or(0);
        let mut seed = u64::from(nanos) ^ ((rustix::process::getpid().as_raw_nonzero().get() as u64) << 32);
        for b in buf.iter_mut() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (seed >> 56) as u8;
        }
    }
    let mut text = String::new();
    for b in buf.iter() {
        for d in [b >> 4, b & 15] {
            text.push(char::from(b"0123456789abcdef"[usize::from(d)]));
        }
    }
    text
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
